/*
 * Doubly linked, NULL-terminated lists of spans through mspan.next/prev:
 * the one list helper of mm/ (mheap's free lists, mcentral's partial and
 * full lists, an owner's partial spans).  The caller holds whatever lock
 * guards the list.
 */
#ifndef KSPAN_MM_SPANLIST_H
#define KSPAN_MM_SPANLIST_H

#include <stddef.h>
#include "mm/mspan.h"

static inline void spanlist_push(struct mspan **head, struct mspan *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static inline void spanlist_remove(struct mspan **head, struct mspan *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

#endif
