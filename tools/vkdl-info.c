/* vkdl-info: every Vulkan device with what vkdl probed on it, and the one a context would use.
 * usage: vkdl-info [device]   (index or name substring; default $VKDL_DEVICE or the best) */
#include "vkdl.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    vkdl_status s = vkdl_devices_print(stdout, argc > 1 ? argv[1] : NULL);
    if (s != VKDL_OK) {
        fprintf(stderr, "vkdl-info: %s: %s\n", vkdl_status_string(s), vkdl_last_error());
        return 1;
    }
    return 0;
}
