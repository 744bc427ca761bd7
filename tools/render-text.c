/* render-text: black lines of text on a white background, as a PNG, to test the OCR example on
 * pictures whose text is known.
 * usage: render-text [--size PX] [--upside-down] OUT.png LINE...
 * Each LINE is drawn left-aligned in DejaVu Sans (cairo's toy font API, which asks fontconfig) at
 * PX pixels (default 36: PP-OCR reads 32-40 px text reliably), one line below the other with half
 * a line of space between them, inside a margin of one line height, since the detector merges
 * lines that touch and misses text at the very edge. --upside-down turns the picture by 180
 * degrees, for the OCR example's orientation step. */
#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(void)
{
    fprintf(stderr, "usage: render-text [--size PX] [--upside-down] OUT.png LINE...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double size = 36;
    int upside_down = 0;
    static const struct option longs[] = {
        {"size", required_argument, NULL, 's'}, {"upside-down", no_argument, NULL, 'u'}, {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        char *end;
        if (c == 'u') {
            upside_down = 1;
            continue;
        }
        if (c != 's')
            usage();
        size = strtod(optarg, &end);
        if (*end || !(size >= 4 && size <= 512)) {
            fprintf(stderr, "render-text: --size: bad value '%s' (want 4 to 512 pixels)\n", optarg);
            exit(2);
        }
    }
    if (argc - optind < 2)
        usage();
    const char *out = argv[optind];
    char **lines = argv + optind + 1;
    int n = argc - optind - 1;

    /* Measure on a scratch surface first: the picture's size depends on the text. */
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double widest = 0;
    for (int i = 0; i < n; i++) {
        cairo_text_extents_t te;
        cairo_text_extents(cr, lines[i], &te);
        widest = fmax(widest, fmax(te.x_advance, te.x_bearing + te.width));
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);

    double line = fe.ascent + fe.descent, margin = line, step = 1.5 * line;
    int w = (int)ceil(widest + 2 * margin), h = (int)ceil(2 * margin + line + (n - 1) * step);
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (upside_down) {
        cairo_translate(cr, w, h);
        cairo_rotate(cr, M_PI);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    for (int i = 0; i < n; i++) {
        cairo_move_to(cr, margin, margin + fe.ascent + i * step);
        cairo_show_text(cr, lines[i]);
    }
    cairo_status_t st = cairo_status(cr);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png(s, out);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    /* Cairo's and fontconfig's caches would otherwise read as leaks in the sanitizer build. */
    cairo_debug_reset_static_data();
    FcFini();
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "render-text: %s: %s\n", out, cairo_status_to_string(st));
        return 1;
    }
    return 0;
}
