//! Routing: rtentry, the RIB, the FIB and route caches, after NetBSD's `sys/net/route.c`
//! and `sys/net/radix.c`. So far only the compiled longest-prefix-match structure behind
//! the FIB seam ([`fib`]) exists; the rtentry slab, the RIB and `rtrequest` come later and
//! will feed it next-hop indices.

pub mod fib;
