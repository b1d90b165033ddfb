// misuse: class=double-free catch=free@later,guard
// misuse-about: free p, allocate q of the same size (often p's slot again),
// misuse-about: free p a second time (the bug: it frees q when q == p), then
// misuse-about: the program frees q as it should: caught at the bad free only
// misuse-about: if the slot was not reused, else at the program's free(q)
#include "../misuse.h"

int main(void)
{
	char *p = xmalloc(40);
	free(p);
	char *q = xmalloc(40);
	wr_range(q, 40, 'q');
	misuse_bug(q == p ? "free p again (its slot is now q)" : "free p again (q is another slot)",
	           p, 40, NULL);
	free(launder(p));
	misuse_after();
	free(q);
	return misuse_end();
}
