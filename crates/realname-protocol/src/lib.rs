//! Types shared by every Realname part: companion API shapes, stable error codes, QR payloads and resident ID numbers.
