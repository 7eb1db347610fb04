//! Loops forever: the deadline interrupts it.
use std::hint::black_box;

hostile::hostile_case!("infinite-loop", "loops forever", |image| {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
});
