/*
 * bodybudget.c - the budget of request body bytes in memory (see
 * bodybudget.h).
 */
#include "http/bodybudget.h"

#include <stdatomic.h>

static size_t budget;
static atomic_size_t in_use;

void body_budget_init(size_t total)
{
    budget = total;
    atomic_store(&in_use, 0);
}

bool body_budget_take(size_t bytes)
{
    size_t used = atomic_load(&in_use);

    do {
        if (bytes > budget || used > budget - bytes)
            return false;
    } while (!atomic_compare_exchange_weak(&in_use, &used, used + bytes));
    return true;
}

void body_budget_give(size_t bytes)
{
    atomic_fetch_sub(&in_use, bytes);
}
