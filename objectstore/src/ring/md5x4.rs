// SPDX-License-Identifier: Apache-2.0
//! Four md5 computations interleaved, for single-block messages (at most 55 bytes, which
//! covers typical `prefix/account/container/object/suffix` keys). MD5 is a long dependency
//! chain; running four independent chains side by side lets the CPU (or the vectoriser)
//! overlap them. Checked against the `md-5` crate in tests.

/// Longest message that fits in one md5 block with its padding.
pub(crate) const MAX_ONE_BLOCK: usize = 55;

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const fn msg_index(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// Writes the concatenation of `parts` plus md5 padding into `block`. The total length must
/// be at most [`MAX_ONE_BLOCK`].
#[inline]
pub(crate) fn fill_block(block: &mut [u8; 64], parts: &[&[u8]]) {
    let mut n = 0;
    for p in parts {
        block[n..n + p.len()].copy_from_slice(p);
        n += p.len();
    }
    block[n] = 0x80;
    for b in &mut block[n + 1..56] {
        *b = 0;
    }
    block[56..64].copy_from_slice(&((n as u64) * 8).to_le_bytes());
}

/// The first four digest bytes (big-endian, as Swift reads them) of four padded blocks.
#[inline]
#[allow(unused_assignments)]
pub(crate) fn first_words_be(blocks: &[[u8; 64]; 4]) -> [u32; 4] {
    let mut m = [[0u32; 4]; 16];
    for (lane, b) in blocks.iter().enumerate() {
        for (w, chunk) in b.chunks_exact(4).enumerate() {
            m[w][lane] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    let (a0, b0, c0, d0) = (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut a = [a0; 4];
    let mut b = [b0; 4];
    let mut c = [c0; 4];
    let mut d = [d0; 4];
    macro_rules! step {
        ($i:expr) => {{
            const I: usize = $i;
            let mut f = [0u32; 4];
            for l in 0..4 {
                let x = match I / 16 {
                    0 => (b[l] & c[l]) | (!b[l] & d[l]),
                    1 => (d[l] & b[l]) | (!d[l] & c[l]),
                    2 => b[l] ^ c[l] ^ d[l],
                    _ => c[l] ^ (b[l] | !d[l]),
                };
                f[l] = x.wrapping_add(a[l]).wrapping_add(K[I]).wrapping_add(m[msg_index(I)][l]);
            }
            a = d;
            d = c;
            c = b;
            for l in 0..4 {
                b[l] = b[l].wrapping_add(f[l].rotate_left(S[I]));
            }
        }};
    }
    macro_rules! steps {
        ($($i:expr),*) => { $( step!($i); )* };
    }
    steps!(
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63
    );
    let mut out = [0u32; 4];
    for l in 0..4 {
        out[l] = a[l].wrapping_add(a0).swap_bytes();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    #[test]
    fn matches_md5_crate_for_every_single_block_length() {
        let data: Vec<u8> = (0..=MAX_ONE_BLOCK as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in 0..=MAX_ONE_BLOCK {
            let mut blocks = [[0u8; 64]; 4];
            let msgs: Vec<Vec<u8>> = (0..4)
                .map(|k| data[..len].iter().map(|x| x.wrapping_add(k as u8)).collect())
                .collect();
            for (b, m) in blocks.iter_mut().zip(&msgs) {
                fill_block(b, &[m]);
            }
            let got = first_words_be(&blocks);
            for (g, m) in got.iter().zip(&msgs) {
                let d = md5::Md5::digest(m);
                assert_eq!(*g, u32::from_be_bytes([d[0], d[1], d[2], d[3]]), "length {len}");
            }
        }
    }
}
