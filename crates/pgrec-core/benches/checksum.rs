//! The serving file's checksum (`checksum::verify`), which each backend runs once per file
//! before serving from it, against a plain read of the same bytes (a sum of its u64 words, the
//! least any pass over the file costs): a file of 757,000 item vectors x 64 floats is 194 MB.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pgrec_core::checksum::{checksum_of, verify, CHECKSUM_AT};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    g.sample_size(10);
    for &mb in &[13usize, 194] {
        let len = mb << 20;
        let mut file: Vec<u8> = (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let sum = checksum_of(&file);
        file[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(
            BenchmarkId::new("verify", format!("{mb}MB")),
            &file,
            |b, f| b.iter(|| verify(f).is_ok()),
        );
        g.bench_with_input(
            BenchmarkId::new("read_u64_sum", format!("{mb}MB")),
            &file,
            |b, f| {
                b.iter(|| {
                    f.chunks_exact(8)
                        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
                        .fold(0u64, u64::wrapping_add)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
