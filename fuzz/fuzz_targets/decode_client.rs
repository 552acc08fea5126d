//! Client message decoding: `decode_client` takes a fast path for well-formed `op` messages and
//! the derived serde decoding for everything else. On every input both must decide the same
//! (same message, or both refuse), and neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plenary_protocol::{decode_client, ClientMsg};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decided = decode_client(text);
    let derived = serde_json::from_str::<ClientMsg>(text);
    match (&decided, &derived) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the two decodings read {text:?} differently"),
        (Err(_), Err(_)) => {}
        _ => panic!("the decodings disagree on {text:?}: {decided:?} against {derived:?}"),
    }
    // What decodes encodes and decodes back to itself.
    if let Ok(msg) = decided {
        let again = serde_json::to_string(&msg).expect("a decoded message encodes");
        assert_eq!(decode_client(&again).ok(), Some(msg), "{again}");
    }
});
