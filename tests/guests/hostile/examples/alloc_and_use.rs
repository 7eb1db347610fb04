//! Allocates 16 MiB (under the default cap) and touches all of it: that must work.
hostile::hostile_case!("alloc-and-use", "allocates 16 MiB and uses it", |image| {
    let mut block = vec![0u8; 16 << 20];
    for (i, byte) in block.iter_mut().enumerate() {
        *byte = i as u8;
    }
    let sum: u64 = block.iter().map(|b| *b as u64).sum();
    Ok(vec![hostile::report("alloc-and-use", format!("sum {sum}"))])
});
