//! Face engine: detection, 68 landmarks, alignment, 128-D descriptors and face signals, ported from face-api 1.7.15 onto candle.
