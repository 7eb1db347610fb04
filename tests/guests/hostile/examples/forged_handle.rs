//! Calls a facts method on a handle the host never gave it.
use hostile::guest::Image;

hostile::hostile_case!("forged-handle", "uses a forged image handle", |image| {
    // SAFETY: none; this is the misuse under test. The host must trap, not answer.
    #[allow(unsafe_code)]
    let forged = unsafe { Image::from_handle(image.handle().wrapping_add(1000)) };
    let now = forged.now();
    std::mem::forget(forged);
    Ok(vec![hostile::report(
        "forged-handle",
        format!("the host answered {now}"),
    )])
});
