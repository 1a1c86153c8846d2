/*
 * startup.h - the start-up gate.
 *
 * cimid answers HTTP before it has re-created the machines an ephemeral
 * hypervisor forgot (reconciliation, main.c): reads are answered at once
 * (a machine not re-created yet shows its stored state), while every
 * request that changes something waits here until reconciliation is over
 * and the Job workers run, so no change ever meets a half-reconciled
 * hypervisor.  One gate for the whole process.
 */
#ifndef CIMID_STARTUP_H
#define CIMID_STARTUP_H

#include <stdbool.h>

/* Close the gate (before HTTP starts). */
void startup_begin(void);
/* Open it: reconciliation is over, the workers run. */
void startup_done(void);
/* cimid is stopping: release waiters with false. */
void startup_abort(void);
/* Is reconciliation still running? */
bool startup_pending(void);
/* Was startup_abort called? (reconciliation stops early) */
bool startup_aborted(void);
/* Wait until the gate opens: true, or false when cimid stops first. */
bool startup_wait(void);

#endif
