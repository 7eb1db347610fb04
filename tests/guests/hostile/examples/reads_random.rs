//! Asks for random numbers: imports wasi:random.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

hostile::hostile_case!(
    "reads-random",
    "seeds a hasher from the host's randomness",
    |image| {
        let hash = RandomState::new().hash_one(1u8);
        Ok(vec![hostile::report("reads-random", format!("{hash}"))])
    }
);
