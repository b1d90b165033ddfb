// misuse: class=invalid-free catch=free
// misuse-about: free the address of a global array
#include "../misuse.h"

static char global_buf[256] = "global";

int main(void)
{
	misuse_bug("free a global's address", global_buf, sizeof(global_buf), global_buf);
	free(launder(global_buf));
	misuse_after();
	return misuse_end();
}
