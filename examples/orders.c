/* orders.c - the pool's usage example: 1024 orders allocated up front, one
 * taken for the length of a scope and given back automatically when the scope
 * ends (the C form of the original ObjectPool / Pooled<T> example). */
#include <stdio.h>
#include <stdlib.h>

#include "pool/pool.h"

struct order {
    unsigned long id;
    double price;
    unsigned quantity;
    char symbol[8];
};

/* Runs once per order, when the pool is created. */
static void order_init(void *obj, void *arg)
{
    (void)arg;
    *(struct order *)obj = (struct order){.id = 0, .price = 0.0};
}

int main(void)
{
    struct pool *orders = pool_create(1024, sizeof(struct order), order_init, NULL);
    if (orders == NULL) {
        perror("pool_create");
        return EXIT_FAILURE;
    }

    {
        POOL_GUARD(struct order, o, orders); /* NULL if none were free */
        if (o != NULL) {
            o->id = 101;
            o->price = 150.25;
            printf("Processing Order #%lu at %.2f\n", o->id, o->price);
        }
    } /* o goes back to the pool here */

    size_t available = pool_available(orders);
    printf("Available after scope: %zu\n", available);
    pool_destroy(orders);
    return available == 1024 ? EXIT_SUCCESS : EXIT_FAILURE;
}
