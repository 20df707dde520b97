#![no_main]
//! `dicom_ingest`: see `corelab_fuzz::dicom_ingest` for what it attacks and the property it asserts.

// One allocation out of proportion to the input aborts, naming its size and stack.
#[global_allocator]
static ALLOC: corelab_fuzz::alloc::Capped = corelab_fuzz::alloc::Capped;

libfuzzer_sys::fuzz_target!(init: corelab_fuzz::alloc::abort_when_over(), |data: &[u8]| {
    let _ = corelab_fuzz::dicom_ingest(data);
});
