//! Publication and retirement of protected objects: the pslist/`atomic_store_release`
//! side of NetBSD's idiom, plus `psref_acquire`/`psref_release`/`psref_copy` and
//! `psref_target_destroy` on the objects found.
//!
//! A [`Slot`] owns at most one object at a time. Readers load it inside a read section and
//! get a [`Shared`], which they may turn into a [`PsRef`] that outlives the section.
//! Writers replace or take the object and get a [`Retired`], whose destruction waits for
//! every read section and every reference (`pserialize_perform` +
//! `psref_target_destroy`); [`Batch`] pays one synchronize for many.
//!
//! Soundness rests on three facts the types enforce: an object is reachable only through
//! its slot while published; a `PsRef` borrows the slot (and the domain), so a slot can be
//! dropped, and its object freed at once, only when no reader holds anything from it; an
//! object taken out of a slot is freed only through the destroy protocol.

use crate::domain::{Domain, ReadGuard};
use crate::record::{Entry, Record};
use crate::sync::{AtomicPtr, Ordering};
use crate::target::Target;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// A protected object: the psref target and the value (NetBSD embeds the target in the
/// object; here the slot allocates both together).
struct Node<T> {
    target: Target,
    value: T,
}

/// A cell that publishes one protected object to readers.
///
/// Guarantees: a reader that loads the slot inside a read section sees either the object
/// before or after a concurrent store, fully initialised, never a freed one.
pub struct Slot<T> {
    ptr: AtomicPtr<Node<T>>,
    _owns: PhantomData<Box<Node<T>>>,
}

// SAFETY: the slot owns its object (Send moves it with the slot); readers on other threads
// get `&T` (needs Sync) and the object may be dropped by another thread than the one that
// stored it (needs Send).
unsafe impl<T: Send + Sync> Send for Slot<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("occupied", &!self.ptr.load(Ordering::Relaxed).is_null())
            .finish()
    }
}

impl<T> Slot<T> {
    /// An empty slot.
    pub fn empty() -> Self {
        Slot {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// A slot holding `value`, published in `domain`.
    pub fn new(value: T, domain: &Domain) -> Self {
        Slot {
            ptr: AtomicPtr::new(Self::alloc(value, domain)),
            _owns: PhantomData,
        }
    }

    fn alloc(value: T, domain: &Domain) -> *mut Node<T> {
        Box::into_raw(Box::new(Node {
            target: Target::new(domain.id()),
            value,
        }))
    }

    /// Loads the object inside a read section (Acquire: the object's contents written
    /// before it was stored are visible).
    ///
    /// # Panics
    /// If the object was published in another domain than the guard's.
    #[inline]
    pub fn load<'a, 'g>(&'a self, guard: &'g ReadGuard<'a>) -> Option<Shared<'g, 'a, T>> {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: the node was published by `store`/`new` and can be freed only after a
        // synchronize that waits for `guard`'s section, or by dropping the slot, which the
        // borrow `'a` forbids while the guard lives.
        let node = unsafe { &*p };
        if node.target.domain_id() != guard.domain().id() {
            domain_mismatch();
        }
        Some(Shared { node, guard })
    }

    /// Loads and acquires a reference in one step.
    #[inline]
    #[cfg_attr(feature = "holder-locations", track_caller)]
    pub fn load_ref<'a>(&'a self, guard: &ReadGuard<'a>) -> Option<PsRef<'a, T>> {
        self.load(guard).map(Shared::acquire)
    }

    /// Publishes `value`, returning the previous object, now unreachable for new readers.
    pub fn store<'d>(&self, value: T, domain: &'d Domain) -> Option<Retired<'d, T>> {
        let new = Self::alloc(value, domain);
        let old = self.ptr.swap(new, Ordering::AcqRel);
        Retired::from_raw(old, domain)
    }

    /// Unpublishes the object, if any.
    pub fn take<'d>(&self, domain: &'d Domain) -> Option<Retired<'d, T>> {
        let old = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        Retired::from_raw(old, domain)
    }

    /// True if the slot holds nothing at this instant.
    pub fn is_empty(&self) -> bool {
        self.ptr.load(Ordering::Relaxed).is_null()
    }

    /// Direct access when nobody else can see the slot.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        let p = crate::sync::ptr_get_mut(&mut self.ptr);
        // SAFETY: `&mut self` proves no reader borrows the slot; the node is ours.
        (!p.is_null()).then(|| unsafe { &mut (*p).value })
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        let p = crate::sync::ptr_get_mut(&mut self.ptr);
        if !p.is_null() {
            // SAFETY: no guard, `Shared` or `PsRef` can borrow a slot being dropped, so
            // the node is unreachable; it came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[cold]
#[inline(never)]
fn domain_mismatch() -> ! {
    panic!("psref: object read through a guard of another domain than the one it was published in")
}

/// An object found inside a read section; valid until the section ends.
pub struct Shared<'g, 'a, T> {
    node: &'g Node<T>,
    guard: &'g ReadGuard<'a>,
}

impl<T> Clone for Shared<'_, '_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<'_, '_, T> {}

impl<'g, 'a, T> Shared<'g, 'a, T> {
    /// The object, for the rest of the read section.
    #[inline]
    pub fn get(&self) -> &'g T {
        &self.node.value
    }

    /// The object's psref target.
    pub fn target(&self) -> &'g Target {
        &self.node.target
    }

    /// Takes a passive reference (`psref_acquire`): writes only this thread's table, with
    /// no atomic read-modify-write. The reference outlives the read section but stays on
    /// this thread.
    #[inline]
    #[cfg_attr(feature = "holder-locations", track_caller)]
    pub fn acquire(self) -> PsRef<'a, T> {
        #[cfg(any(debug_assertions, loom))]
        assert!(
            !self.node.target.is_draining(),
            "psref: acquired a reference to an object whose destroy has begun"
        );
        let rec = self.guard.record();
        let entry = rec.alloc_entry();
        entry.target.store(
            &self.node.target as *const Target as usize,
            Ordering::Release,
        );
        entry.count.store(1, Ordering::Release);
        #[cfg(feature = "holder-locations")]
        if let Ok(mut l) = entry.location.lock() {
            *l = Some(std::panic::Location::caller());
        }
        PsRef {
            node: NonNull::from(self.node),
            entry: NonNull::from(entry),
            rec: self.guard.rec,
            _marker: PhantomData,
        }
    }

    /// True if this thread already holds a reference to the object (`psref_held`).
    pub fn is_held(&self) -> bool {
        self.guard.domain().held(&self.node.target)
    }
}

impl<T> std::ops::Deref for Shared<'_, '_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.node.value
    }
}

/// A passive reference (`struct psref`): keeps the object from being destroyed, costs no
/// shared-memory write, and is bound to the thread that acquired it (neither `Send` nor
/// `Sync`). Released on drop; [`Clone`] is `psref_copy`.
pub struct PsRef<'a, T> {
    node: NonNull<Node<T>>,
    entry: NonNull<Entry>,
    rec: NonNull<Record>,
    _marker: PhantomData<(&'a Node<T>, *const ())>,
}

impl<T> PsRef<'_, T> {
    /// The object's psref target.
    pub fn target(&self) -> &Target {
        // SAFETY: see `Deref`.
        unsafe { &self.node.as_ref().target }
    }

    /// True if both references point at the same object.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.node == b.node
    }

    /// True: this thread holds this reference. For symmetry with NetBSD's `psref_held`
    /// assertions; see also [`Domain::held`].
    pub fn held(&self) -> bool {
        true
    }

    #[inline(always)]
    fn entry(&self) -> &Entry {
        // SAFETY: the entry lives in a record that the borrow `'a` keeps alive and owned
        // by this thread (the reference is `!Send`).
        unsafe { self.entry.as_ref() }
    }
}

impl<T> std::ops::Deref for PsRef<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the entry counting this reference keeps any destroy of the node waiting,
        // and the slot it came from cannot be dropped while `'a` lives.
        unsafe { &self.node.as_ref().value }
    }
}

impl<T> Clone for PsRef<'_, T> {
    /// `psref_copy`: the copy counts in the *same* table entry, so a concurrent destroy
    /// that scans entries one by one cannot miss it.
    #[cfg_attr(feature = "holder-locations", track_caller)]
    fn clone(&self) -> Self {
        #[cfg(psref_mutation = "copy_new_entry")]
        {
            // Mutation: the copy goes to a fresh entry. The loom models must catch this.
            // SAFETY: as in `entry()`.
            let rec = unsafe { self.rec.as_ref() };
            let e = rec.alloc_entry();
            e.target.store(
                self.entry().target.load(Ordering::Relaxed),
                Ordering::Release,
            );
            e.count.store(1, Ordering::Release);
            return PsRef {
                node: self.node,
                entry: NonNull::from(e),
                rec: self.rec,
                _marker: PhantomData,
            };
        }
        #[allow(unreachable_code)]
        {
            let e = self.entry();
            e.count
                .store(e.count.load(Ordering::Relaxed) + 1, Ordering::Release);
            PsRef {
                node: self.node,
                entry: self.entry,
                rec: self.rec,
                _marker: PhantomData,
            }
        }
    }
}

impl<T> Drop for PsRef<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        let e = self.entry();
        let c = e.count.load(Ordering::Relaxed) - 1;
        // Release: the holder's reads of the object happen before the destroyer's free.
        e.count.store(c, Ordering::Release);
        if c == 0 {
            // SAFETY: as in `entry()`; the record is this thread's.
            unsafe { self.rec.as_ref() }.free_entry(e);
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PsRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PsRef").field(&**self).finish()
    }
}

/// An object taken out of its slot: new readers cannot find it, old ones may still use it.
///
/// Dropping it destroys it: one synchronize (`pserialize_perform`), then a wait until no
/// reference remains (`psref_target_destroy`), then the value is dropped. Destroying many
/// objects? Put them in a [`Batch`] to pay for one synchronize.
///
/// # Panics
/// Dropping (or destroying) it panics if the calling thread is inside a read section of the
/// domain, or holds a reference to the object itself: either would wait forever.
pub struct Retired<'d, T> {
    node: NonNull<Node<T>>,
    domain: &'d Domain,
}

// SAFETY: a retired object is exclusively owned (unlinked); moving it to another thread
// moves the value (T: Send) while readers elsewhere may still read it (T: Sync).
unsafe impl<T: Send + Sync> Send for Retired<'_, T> {}

impl<'d, T> Retired<'d, T> {
    fn from_raw(p: *mut Node<T>, domain: &'d Domain) -> Option<Self> {
        let node = NonNull::new(p)?;
        // SAFETY: `p` was a published node; it stays allocated until this Retired frees it.
        if unsafe { node.as_ref() }.target.domain_id() != domain.id() {
            // Freeing it after the wrong synchronize would be unsound: leak it instead.
            panic!("psref: object retired through another domain than the one it was published in");
        }
        Some(Retired { node, domain })
    }

    /// The object (still possibly read by old readers).
    pub fn get(&self) -> &T {
        // SAFETY: the node is alive until this Retired is consumed.
        unsafe { &self.node.as_ref().value }
    }

    /// Waits for readers and references, then drops the object.
    pub fn destroy(self) {
        drop(self.into_inner());
    }

    /// Waits for readers and references, then hands the value back.
    pub fn into_inner(self) -> T {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the node is alive until freed below.
        this.domain.drain(&[unsafe { &this.node.as_ref().target }]);
        // SAFETY: drain returned: no read section that could have found the node is open
        // and no reference remains; the node came from `Box::into_raw`.
        let node = unsafe { Box::from_raw(this.node.as_ptr()) };
        node.value
    }
}

impl<T> Drop for Retired<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the node is alive until freed below.
        self.domain.drain(&[unsafe { &self.node.as_ref().target }]);
        // SAFETY: as in `into_inner`.
        drop(unsafe { Box::from_raw(self.node.as_ptr()) });
    }
}

struct Erased {
    target: NonNull<Target>,
    node: *mut (),
    free: unsafe fn(*mut ()),
}

/// Many retired objects destroyed under one synchronize and one drain loop (the batching a
/// writer needs: a synchronize costs the readers a membarrier each time).
///
/// Dropping the batch destroys what it holds. Same panics as [`Retired`].
pub struct Batch<'d> {
    domain: &'d Domain,
    items: Vec<Erased>,
}

impl<'d> Batch<'d> {
    /// An empty batch.
    pub fn new(domain: &'d Domain) -> Self {
        Batch {
            domain,
            items: Vec::new(),
        }
    }

    /// Adds a retired object.
    pub fn push<T: 'd>(&mut self, retired: Retired<'d, T>) {
        assert!(
            std::ptr::eq(retired.domain, self.domain),
            "psref: batch of another domain"
        );
        let r = std::mem::ManuallyDrop::new(retired);
        unsafe fn free<T>(p: *mut ()) {
            // SAFETY: `p` is a `Node<T>` from `Box::into_raw`, drained by `finish`.
            drop(unsafe { Box::from_raw(p as *mut Node<T>) });
        }
        // SAFETY: the node is alive until `finish` frees it.
        let target = NonNull::from(unsafe { &r.node.as_ref().target });
        self.items.push(Erased {
            target,
            node: r.node.as_ptr() as *mut (),
            free: free::<T>,
        });
    }

    /// Number of objects waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Destroys everything: one synchronize, then waits for references, then frees.
    pub fn finish(mut self) {
        self.run();
    }

    fn run(&mut self) {
        if self.items.is_empty() {
            return;
        }
        // SAFETY: every target lives in a node not yet freed.
        let targets: Vec<&Target> = self
            .items
            .iter()
            .map(|e| unsafe { e.target.as_ref() })
            .collect();
        self.domain.drain(&targets);
        drop(targets);
        for e in self.items.drain(..) {
            // SAFETY: drained above; each node is freed exactly once, by its own type.
            unsafe { (e.free)(e.node) };
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.run();
    }
}

impl<'d, T: 'd> Extend<Retired<'d, T>> for Batch<'d> {
    fn extend<I: IntoIterator<Item = Retired<'d, T>>>(&mut self, iter: I) {
        for r in iter {
            self.push(r);
        }
    }
}
