#include <stdlib.h>
#include "list.h"

#define LIST_GROW 2

/* A singly linked list node. */
struct node {
    int value;
    struct node *next;
};

typedef struct {
    struct node *head;
    size_t len;
} list_t;

/* Pushes a value at the front. */
int list_push(list_t *list, int value)
{
    struct node *n = malloc(sizeof *n);
    if (!n)
        return -1;
    n->value = value;
    n->next = list->head;
    list->head = n;
    list->len++;
    return 0;
}

static void *xmalloc(size_t size) {
    return malloc(size);
}
