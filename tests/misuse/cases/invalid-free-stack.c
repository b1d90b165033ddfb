// misuse: class=invalid-free catch=free
// misuse-about: free the address of a local variable
#include "../misuse.h"

int main(void)
{
	volatile char buf[64];
	buf[0] = 1;
	misuse_bug("free a stack address", (void *)buf, sizeof(buf), (void *)buf);
	free(launder((void *)buf));
	misuse_after();
	return misuse_end();
}
