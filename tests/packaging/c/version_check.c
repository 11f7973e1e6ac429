/* Built against an installed wsrt: the header and the library it loads
 * must be the same release. Prints the version; exits 1 on a mismatch. */
#include <stdio.h>
#include <string.h>
#include <wsrt.h>

int main(void) {
    if (strcmp(wsrt_version(), WSRT_VERSION) != 0 || wsrt_abi_version() != WSRT_ABI_VERSION) {
        fprintf(stderr, "header %s (ABI %d) but library %s (ABI %u)\n", WSRT_VERSION,
                WSRT_ABI_VERSION, wsrt_version(), wsrt_abi_version());
        return 1;
    }
    printf("%s\n", wsrt_version());
    return 0;
}
