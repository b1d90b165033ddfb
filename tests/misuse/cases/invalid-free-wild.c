// misuse: class=invalid-free catch=free
// misuse-about: free a made-up address that nothing maps (0x12345670)
#include "../misuse.h"

int main(void)
{
	void *w = (void *)(uintptr_t)0x12345670;
	misuse_bug("free a wild pointer", w, 0, w);
	free(launder(w));
	misuse_after();
	return misuse_end();
}
