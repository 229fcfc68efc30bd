//! The HTTP callback cipher (protocol §3.2): AES-256-CBC keyed by the console's
//! 43-character `aes_key`, IV = the key's first 16 bytes, a 32-byte PKCS#7
//! padding, and a plaintext framed as `random16 ‖ u32_be(len) ‖ msg ‖ owner`.
//! Plus the SHA-1 signature DingTalk puts beside it.

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

use crate::wire::SuccessReply;

/// The AES block size.
const BLOCK: usize = 16;
/// DingTalk pads to 32 bytes (Java, PHP and Python `BLOCK_SIZE = 32`), so a
/// valid pad is 1..=32. GO and Rust senders pad to 16, which also fits.
const PAD_BLOCK: usize = 32;
/// The random prefix and the length field in front of the message.
const HEADER: usize = 16 + 4;
/// The console's `aes_key` is 43 characters: base64 of 32 bytes minus its `=`.
const AES_KEY_CHARS: usize = 43;

/// Decodes `aes_key + "="`. The 43rd character carries two bits beyond the 32
/// bytes; DingTalk's generated keys set them (V1 ends in `7`, V2 in `j`) and
/// every official SDK ignores them, so a canonical-only decoder would refuse
/// genuine keys.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Why a key, a ciphertext or a plaintext frame was refused. The variants are
/// for logs; callers answer every decryption failure the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the aes_key is not 43 base64 characters encoding 32 bytes")]
    BadAesKey,
    #[error("ciphertext is not valid base64")]
    Base64,
    #[error("ciphertext is {0} bytes, not a positive multiple of the block size")]
    NotBlockAligned(usize),
    #[error("plaintext does not end in valid PKCS#7 padding")]
    BadPadding,
    #[error("plaintext is {0} bytes, shorter than the random prefix and length field")]
    TooShort(usize),
    #[error("the length field says {declared} bytes but only {available} follow")]
    LengthMismatch { declared: usize, available: usize },
    #[error("the {0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("the message is too long to frame")]
    MessageTooLong,
}

/// The 32-byte AES key behind a console `aes_key`.
pub fn derive_key(aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if aes_key.len() != AES_KEY_CHARS {
        return Err(CryptoError::BadAesKey);
    }
    let bytes = KEY_ENGINE
        .decode(format!("{aes_key}="))
        .map_err(|_| CryptoError::BadAesKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadAesKey)
}

fn iv_of(key: &[u8; 32]) -> [u8; BLOCK] {
    let mut iv = [0u8; BLOCK];
    iv.copy_from_slice(&key[..BLOCK]);
    iv
}

/// Opens an `encrypt` value and returns `(msg, owner_key)`.
///
/// Strict where the SDKs are lenient: Java treats a pad byte outside 1..=32 as
/// "no padding" and never checks the other pad bytes or the length field, so a
/// corrupted body could decrypt to something. Here every framing byte must be
/// right. The owner is returned, not checked: which owner is acceptable is the
/// caller's configuration.
pub fn decrypt(aes_key: &str, encrypt_b64: &str) -> Result<(String, String), CryptoError> {
    let key = derive_key(aes_key)?;
    let ciphertext = STANDARD
        .decode(encrypt_b64)
        .map_err(|_| CryptoError::Base64)?;
    if ciphertext.is_empty() || ciphertext.len() % BLOCK != 0 {
        return Err(CryptoError::NotBlockAligned(ciphertext.len()));
    }
    let plaintext = cbc::Decryptor::<Aes256>::new(&key.into(), &iv_of(&key).into())
        .decrypt_padded_vec_mut::<NoPadding>(&ciphertext)
        .map_err(|_| CryptoError::BadPadding)?;
    let framed = &plaintext[..unpad_len(&plaintext)?];
    if framed.len() < HEADER {
        return Err(CryptoError::TooShort(framed.len()));
    }
    let mut length = [0u8; 4];
    length.copy_from_slice(&framed[16..HEADER]);
    let declared = u32::from_be_bytes(length) as usize;
    let rest = &framed[HEADER..];
    if declared > rest.len() {
        return Err(CryptoError::LengthMismatch {
            declared,
            available: rest.len(),
        });
    }
    let (msg, owner) = rest.split_at(declared);
    let msg = std::str::from_utf8(msg).map_err(|_| CryptoError::NotUtf8("message"))?;
    let owner = std::str::from_utf8(owner).map_err(|_| CryptoError::NotUtf8("owner key"))?;
    Ok((msg.to_owned(), owner.to_owned()))
}

/// The length of `plaintext` once its padding is checked and dropped.
fn unpad_len(plaintext: &[u8]) -> Result<usize, CryptoError> {
    let pad = *plaintext.last().ok_or(CryptoError::BadPadding)? as usize;
    if pad == 0 || pad > PAD_BLOCK || pad > plaintext.len() {
        return Err(CryptoError::BadPadding);
    }
    if plaintext[plaintext.len() - pad..]
        .iter()
        .any(|&b| b as usize != pad)
    {
        return Err(CryptoError::BadPadding);
    }
    Ok(plaintext.len() - pad)
}

/// Seals `msg` for `owner` the way DingTalk does, with 32-byte padding. The
/// caller picks `random16` so that tests are reproducible; real replies use a
/// fresh alphanumeric one each time.
pub fn encrypt(
    aes_key: &str,
    msg: &str,
    owner: &str,
    random16: &[u8; 16],
) -> Result<String, CryptoError> {
    let key = derive_key(aes_key)?;
    let length = u32::try_from(msg.len()).map_err(|_| CryptoError::MessageTooLong)?;
    let mut plaintext = Vec::with_capacity(HEADER + msg.len() + owner.len() + PAD_BLOCK);
    plaintext.extend_from_slice(random16);
    plaintext.extend_from_slice(&length.to_be_bytes());
    plaintext.extend_from_slice(msg.as_bytes());
    plaintext.extend_from_slice(owner.as_bytes());
    let pad = PAD_BLOCK - plaintext.len() % PAD_BLOCK;
    plaintext.resize(plaintext.len() + pad, pad as u8);
    Ok(STANDARD.encode(cbc_encrypt(&key, &plaintext)))
}

/// Raw CBC over block-aligned input; the framing and padding are the caller's.
fn cbc_encrypt(key: &[u8; 32], aligned: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(&(*key).into(), &iv_of(key).into())
        .encrypt_padded_vec_mut::<NoPadding>(aligned)
}

/// `hex_lower(SHA1(concat(sorted([token, timestamp, nonce, encrypt]))))`: a
/// plain byte-wise sort of the four strings, no separator (protocol §3.2.5).
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The encrypted `success` answer DingTalk expects to every callback,
/// including `check_url` (protocol §3.3). All inputs are the caller's, so the
/// reply is reproducible; [`crate::callback`] supplies a fresh time, nonce and
/// random prefix.
pub fn success_reply(
    token: &str,
    aes_key: &str,
    owner: &str,
    timestamp: &str,
    nonce: &str,
    random16: &[u8; 16],
) -> Result<SuccessReply, CryptoError> {
    let encrypt = encrypt(aes_key, "success", owner, random16)?;
    Ok(SuccessReply {
        msg_signature: signature(token, timestamp, nonce, &encrypt),
        time_stamp: timestamp.to_owned(),
        nonce: nonce.to_owned(),
        encrypt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // V1 (protocol §3.4): CRYPTO `DingCallbackCrypto3.py`.
    const V1_TOKEN: &str = "mryue";
    const V1_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
    const V1_OWNER: &str = "ding6ccabc44d2c8d38b";
    const V1_ENCRYPT: &str = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";

    // V2: CRYPTO `dingtalk_callback_crypto.rs`.
    const V2_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
    const V2_ENCRYPT: &str = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";
    const V2_MSG: &str = r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#;

    // V3: CRYPTO `DingTalkCrypto.go`.
    const V3_KEY: &str = "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus";
    const V3_ENCRYPT: &str =
        "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ==";

    // V4: DOC:configure-stream-push FAQ.
    const V4_KEY: &str = "1234567890123456789012345678901234567890123";
    const V4_ENCRYPT: &str =
        "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==";

    /// The random prefix a ciphertext was sealed with, read back by decrypting
    /// it: re-encrypting with it must give the same bytes.
    fn random_of(aes_key: &str, encrypt: &str) -> [u8; 16] {
        let key = derive_key(aes_key).unwrap();
        let raw = STANDARD.decode(encrypt).unwrap();
        let plain = cbc::Decryptor::<Aes256>::new(&key.into(), &iv_of(&key).into())
            .decrypt_padded_vec_mut::<NoPadding>(&raw)
            .unwrap();
        plain[..16].try_into().unwrap()
    }

    fn pad_of(aes_key: &str, encrypt: &str) -> u8 {
        let key = derive_key(aes_key).unwrap();
        let raw = STANDARD.decode(encrypt).unwrap();
        let plain = cbc::Decryptor::<Aes256>::new(&key.into(), &iv_of(&key).into())
            .decrypt_padded_vec_mut::<NoPadding>(&raw)
            .unwrap();
        *plain.last().unwrap()
    }

    #[test]
    fn keys_derive_as_the_vectors_say() {
        assert_eq!(
            hex::encode(derive_key(V1_KEY).unwrap()),
            "62e7b411f74de7dd3473571ee5c7fa035e7673adc30ded7cd3c6bad1ce5e71de"
        );
        assert_eq!(
            hex::encode(derive_key(V4_KEY).unwrap()),
            "d76df8e7aefcf74d76df8e7aefcf74d76df8e7aefcf74d76df8e7aefcf74d76d"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(derive_key(""), Err(CryptoError::BadAesKey));
        assert_eq!(derive_key(&V1_KEY[..42]), Err(CryptoError::BadAesKey));
        assert_eq!(
            derive_key(&format!("{V1_KEY}=")),
            Err(CryptoError::BadAesKey)
        );
        assert_eq!(
            derive_key("!234567890123456789012345678901234567890123"),
            Err(CryptoError::BadAesKey)
        );
        assert_eq!(
            encrypt("short", "m", "o", &[b'a'; 16]),
            Err(CryptoError::BadAesKey)
        );
        assert_eq!(decrypt("short", V1_ENCRYPT), Err(CryptoError::BadAesKey));
    }

    #[test]
    fn v1_decrypts_signs_and_reencrypts() {
        assert_eq!(
            decrypt(V1_KEY, V1_ENCRYPT).unwrap(),
            (
                r#"{"EventType":"check_url"}"#.to_owned(),
                V1_OWNER.to_owned()
            )
        );
        assert_eq!(
            signature(V1_TOKEN, "1608001896814", "WL4PK6yA", V1_ENCRYPT),
            "03044561471240d4a14bb09372dfcfd4fd0e40cb"
        );
        let random = random_of(V1_KEY, V1_ENCRYPT);
        assert_eq!(&random, b"l7Y3EcX2CU5w8av3");
        assert_eq!(pad_of(V1_KEY, V1_ENCRYPT), 31);
        assert_eq!(
            encrypt(V1_KEY, r#"{"EventType":"check_url"}"#, V1_OWNER, &random).unwrap(),
            V1_ENCRYPT
        );
    }

    #[test]
    fn v2_decrypts_to_the_suite_check_and_signs() {
        assert_eq!(
            decrypt(V2_KEY, V2_ENCRYPT).unwrap(),
            (V2_MSG.to_owned(), "suite4xxxxxxxxxxxxxxx".to_owned())
        );
        assert_eq!(
            signature("123456", "1445827045067", "nEXhMP4r", V2_ENCRYPT),
            "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0"
        );
        let random = random_of(V2_KEY, V2_ENCRYPT);
        assert_eq!(&random, b"hU3bEfGZZewzhG5a");
        assert_eq!(pad_of(V2_KEY, V2_ENCRYPT), 22);
        assert_eq!(
            encrypt(V2_KEY, V2_MSG, "suite4xxxxxxxxxxxxxxx", &random).unwrap(),
            V2_ENCRYPT
        );
    }

    #[test]
    fn v3_success_reply_is_reproduced_byte_for_byte() {
        assert_eq!(
            decrypt(V3_KEY, V3_ENCRYPT).unwrap(),
            ("success".to_owned(), "dingxxxxxx".to_owned())
        );
        let reply = success_reply(
            "tokenxxxx",
            V3_KEY,
            "dingxxxxxx",
            "1605695694141",
            "WelUQl6bCqcBa2fM",
            b"WelUQl6bCqcBa2fM",
        )
        .unwrap();
        assert_eq!(reply.encrypt, V3_ENCRYPT, "32-byte padding, as Java pads");
        assert_eq!(
            reply.msg_signature,
            "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc"
        );
        assert_eq!(reply.time_stamp, "1605695694141");
        assert_eq!(reply.nonce, "WelUQl6bCqcBa2fM");
    }

    #[test]
    fn v4_reply_with_a_seconds_timestamp() {
        assert_eq!(
            decrypt(V4_KEY, V4_ENCRYPT).unwrap(),
            ("success".to_owned(), "dingsnotzck6pm5veliw".to_owned())
        );
        assert_eq!(
            signature("123456", "1614767836", "A7Co0cJLMzIDtMMI", V4_ENCRYPT),
            "9a95a004dd16f5c307e849b994173f76aa26e5eb"
        );
        assert_eq!(pad_of(V4_KEY, V4_ENCRYPT), 17);
        let reply = success_reply(
            "123456",
            V4_KEY,
            "dingsnotzck6pm5veliw",
            "1614767836",
            "A7Co0cJLMzIDtMMI",
            b"dICkEDLj0eb6yAbc",
        )
        .unwrap();
        assert_eq!(reply.encrypt, V4_ENCRYPT);
        assert_eq!(
            reply.msg_signature,
            "9a95a004dd16f5c307e849b994173f76aa26e5eb"
        );
    }

    #[test]
    fn v5_raw_cbc_block_with_16_byte_padding() {
        let key = derive_key(V2_KEY).unwrap();
        let mut plain = b"5p7b4jXMWUshiBCosucc111esssuite4xxxxxxxxxxxxxxx221".to_vec();
        plain.extend_from_slice(&[0x0e; 14]);
        assert_eq!(
            STANDARD.encode(cbc_encrypt(&key, &plain)),
            "DwCJ9BMxu4r+VTe9TD+AWc1yfxqs7d2YgepFe4XruMgh1+6pTjCCq4nqAM6StRcafOx5a1OfwmX3ckSBifatlA=="
        );
        // The padding is valid but there is no length frame: "succ" read as a
        // big-endian length is far beyond the 30 bytes that follow.
        assert_eq!(
            decrypt(
                V2_KEY,
                "DwCJ9BMxu4r+VTe9TD+AWc1yfxqs7d2YgepFe4XruMgh1+6pTjCCq4nqAM6StRcafOx5a1OfwmX3ckSBifatlA=="
            ),
            Err(CryptoError::LengthMismatch {
                declared: u32::from_be_bytes(*b"succ") as usize,
                available: 30
            })
        );
    }

    #[test]
    fn v6_success_reply_for_the_v1_app() {
        let reply = success_reply(
            V1_TOKEN,
            V1_KEY,
            V1_OWNER,
            "1608001896814",
            "WL4PK6yA",
            b"aaaaaaaaaaaaaaaa",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            serde_json::json!({
                "msg_signature": "71d9836a647b4d126b63426d53e5af21c645c68f",
                "timeStamp": "1608001896814",
                "nonce": "WL4PK6yA",
                "encrypt": "W/uewmTfs9tKDMDgxd+XSWnN7/9hqBEFaNzz7OGg5U3wtU5s5t372MOgywiPy4AKBmuShz44UiCGLe9cAEJi7g=="
            })
        );
        assert_eq!(pad_of(V1_KEY, &reply.encrypt), 17);
    }

    #[test]
    fn round_trips_every_padding_length_with_32_byte_blocks() {
        for len in 0..=70 {
            let msg: String = "x".repeat(len);
            let sealed = encrypt(V1_KEY, &msg, "owner", b"0123456789abcdef").unwrap();
            let raw = STANDARD.decode(&sealed).unwrap();
            assert_eq!(raw.len() % PAD_BLOCK, 0, "padded to 32, not 16");
            assert_eq!(decrypt(V1_KEY, &sealed).unwrap(), (msg, "owner".to_owned()));
        }
    }

    #[test]
    fn non_ascii_lengths_count_bytes() {
        let msg = r#"{"address":"中国科学院"}"#;
        let sealed = encrypt(V1_KEY, msg, V1_OWNER, b"0123456789abcdef").unwrap();
        assert_eq!(
            decrypt(V1_KEY, &sealed).unwrap(),
            (msg.to_owned(), V1_OWNER.to_owned())
        );
    }

    #[test]
    fn truncated_or_garbled_ciphertext_is_refused() {
        let raw = STANDARD.decode(V1_ENCRYPT).unwrap();
        assert_eq!(
            decrypt(V1_KEY, &STANDARD.encode(&raw[..raw.len() - 5])),
            Err(CryptoError::NotBlockAligned(raw.len() - 5))
        );
        assert_eq!(decrypt(V1_KEY, ""), Err(CryptoError::NotBlockAligned(0)));
        assert_eq!(decrypt(V1_KEY, "not base64!"), Err(CryptoError::Base64));
        // Dropping the last block leaves message bytes where the padding was.
        assert_eq!(
            decrypt(V1_KEY, &STANDARD.encode(&raw[..raw.len() - 16])),
            Err(CryptoError::BadPadding)
        );
        assert_eq!(decrypt(V2_KEY, V1_ENCRYPT), Err(CryptoError::BadPadding));
    }

    #[test]
    fn framing_is_checked_strictly() {
        let key = derive_key(V1_KEY).unwrap();
        let seal = |plain: &[u8]| STANDARD.encode(cbc_encrypt(&key, plain));

        // 12 bytes of frame: shorter than the random prefix and length.
        let mut short = vec![b'a'; 12];
        short.extend_from_slice(&[20u8; 20]);
        assert_eq!(
            decrypt(V1_KEY, &seal(&short)),
            Err(CryptoError::TooShort(12))
        );

        // A pad byte above 32 (Java would treat it as "no padding").
        assert_eq!(
            decrypt(V1_KEY, &seal(&[33u8; 48])),
            Err(CryptoError::BadPadding)
        );
        // A zero pad byte.
        assert_eq!(
            decrypt(V1_KEY, &seal(&[0u8; 32])),
            Err(CryptoError::BadPadding)
        );
        // Pad bytes that disagree.
        let mut uneven = vec![b'a'; 29];
        uneven.extend_from_slice(&[2, 3, 3]);
        assert_eq!(
            decrypt(V1_KEY, &seal(&uneven)),
            Err(CryptoError::BadPadding)
        );

        // Invalid UTF-8 in the message.
        let mut bad_utf8 = b"0123456789abcdef".to_vec();
        bad_utf8.extend_from_slice(&2u32.to_be_bytes());
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        bad_utf8.extend_from_slice(b"owner");
        let pad = 32 - bad_utf8.len() % 32;
        bad_utf8.resize(bad_utf8.len() + pad, pad as u8);
        assert_eq!(
            decrypt(V1_KEY, &seal(&bad_utf8)),
            Err(CryptoError::NotUtf8("message"))
        );
    }

    #[test]
    fn the_signature_sorts_bytewise_without_separators() {
        // Sorted: "A" < "a" < "b" < "c"; SHA1("Aabc").
        assert_eq!(
            signature("c", "a", "b", "A"),
            hex::encode(Sha1::digest(b"Aabc"))
        );
        assert_eq!(signature("c", "a", "b", "A"), signature("A", "b", "a", "c"));
    }
}
