/*
 * The build's feature switches, checked once.  Their defaults live in one
 * place, mk/config.mk, which passes every one of them to every compile
 * (its `features` function); a build that forgets one stops here instead
 * of silently picking a value of its own.
 *
 *   KSPAN_DEBUG        internal assertions (KS_ASSERT) and lock-order checks
 *   KSPAN_DEBUG_HEAP   the debug heap: red zones, poison, call sites
 *   KSPAN_GC           the collector (include/kspan/gc.h) is built
 *   KSPAN_RANDOMIZE    randomised object order within spans
 *   KSPAN_OWN_SLOTS    the platform gives each caller that can have one a
 *                      slot of its own (a host thread's; a kernel CPU's
 *                      outside interrupt handlers, which get slots of
 *                      their own), so the fast paths need no interrupt
 *                      guard; they find their slot with ks_plat_own_slot()
 *                      (include/kspan/platform.h)
 */
#ifndef KSPAN_LIB_CONFIG_H
#define KSPAN_LIB_CONFIG_H

#if !defined(KSPAN_DEBUG) || !defined(KSPAN_DEBUG_HEAP) || \
    !defined(KSPAN_GC) || !defined(KSPAN_RANDOMIZE) || !defined(KSPAN_OWN_SLOTS)
#error "build with the feature flags of mk/config.mk: -DKSPAN_DEBUG= -DKSPAN_DEBUG_HEAP= -DKSPAN_GC= -DKSPAN_RANDOMIZE= -DKSPAN_OWN_SLOTS="
#endif

#endif
