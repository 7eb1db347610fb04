//! Control: a well-behaved policy that allows.
hostile::hostile_case!("allow", "allows every image", |image| { Ok(vec![]) });
