//! Connects to the network through std::net: imports wasi:sockets.
hostile::hostile_case!("opens-socket", "connects to 127.0.0.1:22", |image| {
    let stream = std::net::TcpStream::connect("127.0.0.1:22").map_err(|e| e.to_string())?;
    Ok(vec![hostile::report("opens-socket", format!("{stream:?}"))])
});
