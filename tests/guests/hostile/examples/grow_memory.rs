//! Allocates 1 MiB blocks forever: the memory cap stops it.
use std::hint::black_box;

hostile::hostile_case!("grow-memory", "grows linear memory without end", |image| {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![1u8; 1 << 20]));
    }
});
