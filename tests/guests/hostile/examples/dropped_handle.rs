//! Drops the image handle it only borrowed, then uses it.
use hostile::guest::Image;

hostile::hostile_case!(
    "dropped-handle",
    "drops the borrowed image, then queries it",
    |image| {
        // SAFETY: none; this is the misuse under test. Dropping the owned wrapper
        // of a borrowed handle asks the host to drop the borrow.
        #[allow(unsafe_code)]
        drop(unsafe { Image::from_handle(image.handle()) });
        let now = image.now();
        Ok(vec![hostile::report(
            "dropped-handle",
            format!("the host answered {now}"),
        )])
    }
);
