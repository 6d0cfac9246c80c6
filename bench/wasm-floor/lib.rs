//! One exported function that runs the chosen checks on text made at run time (so no table
//! can be folded away). Build with `--features nfc,nfkc,category,host` or any subset.

/// The text: `n` copies of the character `c` (U+FFFD if `c` is not a scalar value).
fn text(c: u32, n: u32) -> String {
    std::iter::repeat_n(char::from_u32(c).unwrap_or('\u{fffd}'), n as usize).collect()
}

#[no_mangle]
pub extern "C" fn check(c: u32, n: u32) -> u32 {
    let s = text(c, n);
    #[allow(unused_mut)]
    let mut seen = 0u32;
    #[cfg(feature = "nfc")]
    {
        seen += u32::from(unicode_normalization::is_nfc(&s));
    }
    #[cfg(feature = "nfkc")]
    {
        seen += u32::from(unicode_normalization::is_nfkc(&s));
    }
    #[cfg(feature = "category")]
    {
        use unicode_properties::UnicodeGeneralCategory;
        seen += s.chars().map(|c| c.general_category() as u32).sum::<u32>();
    }
    #[cfg(feature = "host")]
    {
        seen += url::Host::parse(&s).map_or(0, |h| h.to_string().len() as u32);
    }
    seen
}
