//! Shared box geometry: the pixel [`BoundingBox`], IoU, greedy non-maximum suppression and the
//! clip-and-floor crop rectangles face-api feeds its nets.

use serde::{Deserialize, Serialize};

/// Axis-aligned box in pixels of the original image (`x`, `y` = top-left corner).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left edge, pixels.
    pub x: f32,
    /// Top edge, pixels.
    pub y: f32,
    /// Width, pixels.
    pub width: f32,
    /// Height, pixels.
    pub height: f32,
}

impl BoundingBox {
    /// Right edge (`x + width`).
    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    /// Bottom edge (`y + height`).
    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    /// Area (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        (self.width.max(0.0)) * (self.height.max(0.0))
    }

    /// Intersection over union; 0 when either box has no area.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        iou_xyxy([self.x, self.y, self.right(), self.bottom()], [other.x, other.y, other.right(), other.bottom()])
    }
}

/// IoU of two `[x0, y0, x1, y1]` boxes (any consistent unit); 0 if either area is ≤ 0.
pub fn iou_xyxy(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / (area_a + area_b - inter)
}

/// Greedy hard NMS as face-api does it: candidates sorted by descending score (stable, so ties
/// keep their input order), a candidate is dropped when its IoU with an already kept box is
/// greater than `iou_threshold`; at most `max_results` indices are returned, best first.
pub fn non_max_suppression(boxes: &[[f32; 4]], scores: &[f32], iou_threshold: f32, max_results: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept.len() >= max_results {
            break;
        }
        if kept.iter().all(|&k| iou_xyxy(boxes[k], boxes[i]) <= iou_threshold) {
            kept.push(i);
        }
    }
    kept
}

/// Integer crop rectangle (pixels) inside an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width (≥ 1).
    pub width: u32,
    /// Height (≥ 1).
    pub height: u32,
}

/// face-api's `box.clipAtImageBorders(w, h)` followed by `.floor()` as used by `extractFaceTensors`:
/// `x, y` clamped to ≥ 0, right/bottom clamped to the image, then every component floored.
/// Returns `None` when nothing of the box lies inside the image.
pub fn clip_and_floor(x: f32, y: f32, w: f32, h: f32, img_w: u32, img_h: u32) -> Option<CropRect> {
    if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite()) {
        return None;
    }
    // face-api (Box.clipAtImageBorders): clippedX = max(x, 0), clippedRight = min(right, imgW) etc.,
    // newWidth = clippedRight - clippedX; its floor() then floors x, y, width, height separately.
    let (x, y, w, h) = (x as f64, y as f64, w as f64, h as f64);
    let cx = x.max(0.0);
    let cy = y.max(0.0);
    let right = (x + w).min(img_w as f64);
    let bottom = (y + h).min(img_h as f64);
    let nw = (right - cx).floor();
    let nh = (bottom - cy).floor();
    let fx = cx.floor();
    let fy = cy.floor();
    if nw < 1.0 || nh < 1.0 || fx >= img_w as f64 || fy >= img_h as f64 {
        return None;
    }
    let fx = fx as u32;
    let fy = fy as u32;
    let nw = (nw as u32).min(img_w - fx);
    let nh = (nh as u32).min(img_h - fy);
    if nw == 0 || nh == 0 {
        return None;
    }
    Some(CropRect { x: fx, y: fy, width: nw, height: nh })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = [0.0, 0.0, 2.0, 2.0];
        assert!((iou_xyxy(a, a) - 1.0).abs() < 1e-6);
        assert_eq!(iou_xyxy(a, [3.0, 3.0, 4.0, 4.0]), 0.0);
        assert!((iou_xyxy(a, [1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou_xyxy([0.0, 0.0, 0.0, 1.0], a), 0.0);
    }

    #[test]
    fn nms_keeps_best_and_drops_overlaps() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]];
        let scores = [0.6, 0.9, 0.7];
        assert_eq!(non_max_suppression(&boxes, &scores, 0.5, 10), vec![1, 2]);
        assert_eq!(non_max_suppression(&boxes, &scores, 0.5, 1), vec![1]);
        assert_eq!(non_max_suppression(&boxes, &scores, 0.95, 10), vec![1, 2, 0]);
    }

    #[test]
    fn clip_and_floor_matches_face_api() {
        let r = clip_and_floor(-3.5, 10.7, 50.2, 20.0, 40, 100).expect("inside");
        assert_eq!(r, CropRect { x: 0, y: 10, width: 40, height: 20 });
        assert!(clip_and_floor(50.0, 0.0, 10.0, 10.0, 40, 40).is_none());
        assert!(clip_and_floor(f32::NAN, 0.0, 10.0, 10.0, 40, 40).is_none());
    }
}
