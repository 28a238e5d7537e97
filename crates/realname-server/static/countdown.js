// The SMS code page's resend countdown. Countdown only; the server enforces the wait and
// names it if the button is used early.
(function () {
  var s = document.getElementById('resend-seconds');
  if (!s) return;
  var left = parseInt(s.textContent, 10);
  var t = setInterval(function () {
    left -= 1;
    if (left <= 0) { clearInterval(t); var w = document.getElementById('resend-wait'); if (w) w.hidden = true; return; }
    s.textContent = String(left);
  }, 1000);
})();
