//! The rules of the challenge decision, one module each; [`super::evaluate`] runs them in order.

pub(crate) mod actions;
pub(super) mod duplicates;
pub(super) mod person;
pub(super) mod timing;

pub(crate) fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}
