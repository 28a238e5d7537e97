// QR page: live status by server push (SSE), polling as fallback, QR refresh before expiry.
(function () {
  "use strict";
  var root = document.getElementById("session");
  if (!root) return;
  var id = root.dataset.session, csrf = root.dataset.csrf;
  var T = JSON.parse(document.getElementById("i18n").textContent);
  var skew = Date.now() / 1000 - Number(root.dataset.now);
  var qrExpires = Number(root.dataset.qrExpires);
  var state = root.dataset.state, finished = false, source = null, pollTimer = null, refreshTimer = null;
  var $ = function (x) { return document.getElementById(x); };

  function show(el, on) { if (el) el.hidden = !on; }

  function render(ev) {
    state = ev.state;
    root.dataset.state = state;
    $("status").dataset.state = state;
    var text = { waiting: T.state_waiting, scanned: T.state_scanned, in_progress: T.state_in_progress,
      passed: T.state_passed, failed: T.state_failed, expired: T.state_expired, cancelled: T.state_cancelled }[state] || state;
    $("status-text").textContent = state === "scanned" && ev.device ? text + " " + ev.device : text;
    $("status-device").textContent = state === "scanned" ? (ev.station_code ? "" : T.state_confirm_on_device)
      : (ev.device && state !== "waiting" ? ev.device : "");
    var code = $("station-code");
    if (ev.station_code) { code.textContent = ev.station_code; code.dataset.code = ev.station_code;
      $("status-device").textContent = T.state_station_code; }
    show(code, !!ev.station_code);
    var msg = $("status-message");
    msg.textContent = ev.message || "";
    if (ev.code) msg.dataset.code = ev.code;
    show(msg, !!ev.message && state !== "passed" && state !== "waiting");
    var att = $("status-attempts");
    att.textContent = T.attempts_left + ": " + ev.attempts_left;
    show(att, (state === "failed" || (ev.reason && state === "in_progress")));
    show($("qr-overlay"), state !== "waiting");
    var final = ["passed", "failed", "expired", "cancelled"].indexOf(state) >= 0;
    show($("after-actions"), final);
    show($("retry-form"), final && state !== "passed" && ev.code !== "id_already_verified");
    show($("details-link"), state === "passed");
    if (final) { finished = true; if (source) source.close(); clearTimeout(pollTimer); clearTimeout(refreshTimer); }
    if (state === "passed") setTimeout(function () { window.location.href = "/verify/details"; }, 1500);
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    var left = qrExpires - (Date.now() / 1000 - skew);
    refreshTimer = setTimeout(refreshQr, Math.max(1000, (left - 15) * 1000));
  }

  function refreshQr() {
    if (finished || state !== "waiting") return;
    fetch("/verify/sessions/" + id + "/qr", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.qr_src) { var img = $("qr"); img.src = j.qr_src; img.dataset.payload = j.qr_payload;
          qrExpires = j.expires_at; scheduleRefresh(); }
      }).catch(function () { refreshTimer = setTimeout(refreshQr, 5000); });
  }

  function countdown() {
    var left = Math.max(0, Math.round(qrExpires - (Date.now() / 1000 - skew)));
    var el = $("qr-countdown");
    if (el) el.textContent = state === "waiting" ? T.qr_expires_in + " " + left + "s" : "";
    if (!finished) setTimeout(countdown, 1000);
  }

  function poll() {
    fetch("/verify/sessions/" + id + "/status", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (ev) { render(ev); if (!finished) pollTimer = setTimeout(poll, 2000); })
      .catch(function () { pollTimer = setTimeout(poll, 4000); });
  }

  if (window.EventSource) {
    source = new EventSource("/verify/sessions/" + id + "/events");
    source.addEventListener("state", function (e) { render(JSON.parse(e.data)); });
    source.onerror = function () { if (!finished && source.readyState === 2) poll(); };
  } else {
    poll();
  }
  scheduleRefresh();
  countdown();
})();
