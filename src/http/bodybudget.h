/*
 * bodybudget.h - how many request body bytes all connections together may
 * hold in memory (--max-buffered-bodies).
 *
 * A request with a body takes its share before the first body byte is read
 * (its Content-Length, or --max-body for a chunked one) and gives it back
 * when the request ends; a request that finds the budget spent is answered
 * 503 with Retry-After instead of being read.  Thread-safe (atomics).
 */
#ifndef CIMID_BODYBUDGET_H
#define CIMID_BODYBUDGET_H

#include <stdbool.h>
#include <stddef.h>

/* Set the budget in bytes. */
void body_budget_init(size_t total);

/* Take bytes from the budget; false (nothing taken) if they are not left. */
bool body_budget_take(size_t bytes);

/* Give back what body_budget_take took. */
void body_budget_give(size_t bytes);

#endif
