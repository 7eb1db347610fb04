//! Panics with a message.
#[allow(clippy::panic)]
fn explode() -> ! {
    panic!("the hostile policy panicked on purpose")
}

hostile::hostile_case!("panics", "panics", |image| { explode() });
