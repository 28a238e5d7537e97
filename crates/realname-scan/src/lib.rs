//! Frame sources (webcam, screen, file, folder, synthetic, recorder) and a QR reader that copes with real webcam frames.
