//! How many threads the face engine's kernels use: as many as candle would (`RAYON_NUM_THREADS`,
//! default all cores), or fewer for one calling thread's calls ([`with_threads`]).

thread_local! {
    /// This thread's cap on the threads of the engine's kernels ([`with_threads`]).
    static THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the face engine's kernels called from this thread on at most `threads` threads
/// (1: serially on this thread), instead of as many as candle would use (`RAYON_NUM_THREADS`,
/// default all cores). A server deciding several captures at once runs each serially: parallel
/// kernels then only add synchronisation (docs/benchmarks-load.md).
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    /// Puts the previous cap back, also when `f` panics.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(THREADS.with(|t| t.replace(Some(threads.max(1)))));
    f()
}

/// The threads a kernel called from this thread may use.
pub(crate) fn kernel_threads() -> usize {
    let all = candle_core::utils::get_num_threads();
    THREADS.with(std::cell::Cell::get).map_or(all, |cap| cap.min(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_threads_caps_this_threads_kernels_and_gives_the_same_products() {
        let all = kernel_threads();
        with_threads(1, || {
            assert_eq!(kernel_threads(), 1);
            with_threads(4, || assert_eq!(kernel_threads(), 4.min(all)));
            assert_eq!(kernel_threads(), 1, "the inner cap is undone");
        });
        assert_eq!(kernel_threads(), all);
        let caught = std::panic::catch_unwind(|| with_threads(1, || panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(kernel_threads(), all, "restored after a panic");
        // Large enough to run in parallel (m·n·k > 2^20): the same bits either way.
        let (m, k, n) = (64, 256, 96);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 991.0 - 0.5).collect();
        let (mut parallel, mut serial) = (Vec::new(), Vec::new());
        with_threads(usize::MAX, || crate::ops::matmul_append(&mut parallel, &a, &b, m, k, n));
        with_threads(1, || crate::ops::matmul_append(&mut serial, &a, &b, m, k, n));
        assert!(parallel.iter().zip(&serial).all(|(p, s)| p.to_bits() == s.to_bits()));
    }
}
