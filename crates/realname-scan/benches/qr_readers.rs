//! Criterion benchmark: this crate's reader, plain rqrr and rxing over the whole shared QR corpus, same luma pixels, one thread.
//!
//! `cargo bench -p realname-scan --bench qr_readers` (decode rates and per-image medians: the
//! `qr_corpus` example).

#[path = "../tests/support/corpus.rs"]
mod corpus;

use std::time::Duration;

use corpus::{Decoder, Ours, PlainRqrr, Rxing};
use criterion::{Criterion, criterion_group, criterion_main};
use realname_scan::QrReader;

fn corpus_pass(c: &mut Criterion) {
    let cases = match corpus::shared_dir().and_then(|d| corpus::load_corpus(&d)) {
        Ok(c) => c,
        Err(e) => panic!("QR corpus needed for the benchmark: {e:#}"),
    };
    let ours = Ours(QrReader::default(), "realname-scan");
    let decoders: [&dyn Decoder; 3] = [&ours, &PlainRqrr, &Rxing];
    let mut group = c.benchmark_group("qr_corpus_132_images");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(2));
    for d in decoders {
        group.bench_function(d.name(), |b| {
            b.iter(|| cases.iter().map(|case| d.decode(&case.luma).len()).sum::<usize>());
        });
    }
    group.finish();
}

criterion_group!(benches, corpus_pass);
criterion_main!(benches);
