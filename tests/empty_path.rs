//! Regression: `Log::open("")` created `.lock` and its metadata directories in the current directory,
//! then failed. An empty path is refused before anything is created. (Its own test binary: it
//! changes the current directory.)

#[test]
fn an_empty_path_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    match partlog::Log::open("") {
        Err(partlog::Error::Io { op: "open", source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created here");
}
