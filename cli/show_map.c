/*
 * show --map and show --svg FILE: a picture of the guest-physical space
 * (regions, holes, and the mmio and fast-mmio registrations) and of the
 * port I/O space, from core/map.c's segments.  Each segment is a band
 * whose length (terminal) or height (SVG) grows with log2 of its size, so
 * a 4 KiB device and a 2 GiB region are both visible; its addresses are
 * written beside it.  Holes and overlaps have a look of their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "map.h"
#include "num.h"

/* The most segments a picture draws. */
#define MAP_MAX_SEGMENTS 10000

enum band { BAND_REGION, BAND_HOLE, BAND_OVERLAP, BAND_DEVICE, BAND_REGION_DEVICE };

static enum band band_of(const struct vm_segment *s)
{
	if (s->nregions > 1)
		return BAND_OVERLAP;
	if (s->nregions)
		return s->nio ? BAND_REGION_DEVICE : BAND_REGION;
	return s->nio ? BAND_DEVICE : BAND_HOLE;
}

/* A band's text: its range, size, what covers it in words, and the name
 * of that (NULL: none; unsafe: the caller escapes it). */
struct band_text {
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX], what[96];
	const char *name;
};

static void describe(const struct vm_segment *s, struct band_text *bt)
{
	cli_fmt_range(bt->range, s->start, s->last);
	/* The whole 2^64 space has no u64 size: its last byte's count. */
	vm_fmt_size(bt->size, s->last - s->start + 1 ? s->last - s->start + 1 : UINT64_MAX);
	bt->name = NULL;
	switch (band_of(s)) {
	case BAND_HOLE:
		snprintf(bt->what, sizeof(bt->what), "hole");
		break;
	case BAND_OVERLAP:
		snprintf(bt->what, sizeof(bt->what), "overlap of %zu regions, first", s->nregions);
		bt->name = s->region->name ? s->region->name : "-";
		break;
	case BAND_REGION:
		snprintf(bt->what, sizeof(bt->what), "region");
		bt->name = s->region->name ? s->region->name : "-";
		break;
	case BAND_DEVICE:
	case BAND_REGION_DEVICE:
		snprintf(bt->what, sizeof(bt->what), "%s%s %s%s", s->nregions ? "region and " : "",
			 vm_bus_name(s->io_bus), vm_io_kind_name(s->io->kind),
			 s->nio > 1 ? " (and more)" : "");
		bt->name = s->io->dev;
		break;
	}
}

static long segments(struct vmmap_ctx *ctx, const struct vm_table *t, bool pio,
		     struct vm_segment **seg)
{
	unsigned mask = pio ? 1u << VM_PIO_BUS : (1u << VM_MMIO_BUS) | (1u << VM_FAST_MMIO_BUS);
	long n = vm_map_segments(t, !pio, mask, MAP_MAX_SEGMENTS, seg);

	if (n == -E2BIG)
		return cli_error(ctx, "usage", "the %s space has more than %d segments to draw",
				 pio ? "port I/O" : "guest-physical", MAP_MAX_SEGMENTS), -1;
	if (n < 0)
		return cli_error(ctx, "nomem", "out of memory"), -1;
	return n;
}

static void text_strip(const char *title, const struct vm_segment *seg, long n)
{
	static const char fill[] = { '#', '.', '!', '=', '%' };
	static const char *const names[] = {
		"region", "hole", "overlap", "device", "region and device",
	};
	size_t counts[5] = { 0 };
	const char *sep = " (";

	for (long i = 0; i < n; i++)
		counts[band_of(&seg[i])]++;
	printf("%s: %ld band%s", title, n, n == 1 ? "" : "s");
	for (int k = 0; k < 5; k++)
		if (counts[k]) {
			printf("%s%zu %s", sep, counts[k], names[k]);
			sep = ", ";
		}
	printf("%s; bar length: log2 of the size\n", n ? ")" : "");
	for (long i = 0; i < n; i++) {
		const struct vm_segment *s = &seg[i];
		unsigned w = (vm_map_weight(s) + 1) / 2;
		struct band_text bt;
		char bar[40];

		describe(s, &bt);
		memset(bar, fill[band_of(s)], w);
		bar[w] = '\0';
		printf("  %s %9s |%-33s| %s%s%s\n", bt.range, bt.size, bar, bt.what,
		       bt.name ? " " : "", bt.name ? cli_safe(bt.name) : "");
	}
}

int cli_show_map(struct vmmap_ctx *ctx, const struct vm_table *t)
{
	struct vm_segment *seg;
	long n = segments(ctx, t, false, &seg);

	if (n < 0)
		return VMMAP_EXIT_ERROR;
	printf("legend: # region  . hole  ! overlap  = device  %% region and device\n");
	text_strip("guest-physical", seg, n);
	free(seg);
	if (!t->bus[VM_PIO_BUS].dev_count)
		return VMMAP_EXIT_OK;
	if ((n = segments(ctx, t, true, &seg)) < 0)
		return VMMAP_EXIT_ERROR;
	text_strip("port I/O", seg, n);
	free(seg);
	return VMMAP_EXIT_OK;
}

/* Text for XML: &, <, >, " and ' as entities; control bytes as '?'. */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f); break;
		}
	}
}

/* One strip of bands from y; returns the y below it. */
static unsigned svg_strip(FILE *f, const char *title, const struct vm_segment *seg, long n,
			  unsigned y)
{
	static const char *const style[] = {
		[BAND_REGION] = "fill=\"#4682b4\" stroke=\"#fff\"",
		[BAND_HOLE] = "fill=\"url(#hole)\" stroke=\"#888\" stroke-dasharray=\"4 2\"",
		[BAND_OVERLAP] = "fill=\"#d62728\" stroke=\"#fff\"",
		[BAND_DEVICE] = "fill=\"#ff8c00\" stroke=\"#fff\"",
		[BAND_REGION_DEVICE] = "fill=\"#9467bd\" stroke=\"#fff\"",
	};

	fprintf(f, "<text x=\"10\" y=\"%u\" font-weight=\"bold\">", y + 14);
	xml_text(f, title);
	fprintf(f, "</text>\n");
	y += 22;
	for (long i = 0; i < n; i++) {
		const struct vm_segment *s = &seg[i];
		unsigned h = 10 + 2 * vm_map_weight(s);
		struct band_text bt;

		describe(s, &bt);
		fprintf(f, "<g class=\"band\" data-kind=\"%d\"><rect x=\"10\" y=\"%u\" width=\"160\" "
			"height=\"%u\" %s/>", (int)band_of(s), y, h, style[band_of(s)]);
		fprintf(f, "<text x=\"180\" y=\"%u\">%s %s ", y + h / 2 + 5, bt.range, bt.size);
		xml_text(f, bt.what);
		if (bt.name) {
			fputc(' ', f);
			xml_text(f, bt.name);
		}
		fprintf(f, "</text></g>\n");
		y += h;
	}
	return y + 10;
}

int cli_show_svg(struct vmmap_ctx *ctx, const struct vm_table *t, const char *path)
{
	struct vm_segment *seg = NULL, *pseg = NULL;
	long n = segments(ctx, t, false, &seg), pn = 0;
	unsigned height = 40;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (n < 0)
		return VMMAP_EXIT_ERROR;
	if (t->bus[VM_PIO_BUS].dev_count && (pn = segments(ctx, t, true, &pseg)) < 0) {
		free(seg);
		return VMMAP_EXIT_ERROR;
	}
	for (long i = 0; i < n; i++)
		height += 10 + 2 * vm_map_weight(&seg[i]);
	for (long i = 0; i < pn; i++)
		height += 10 + 2 * vm_map_weight(&pseg[i]);
	f = open_memstream(&text, &len);
	if (!f) {
		free(seg);
		free(pseg);
		return cli_error(ctx, "nomem", "out of memory");
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%u\" "
		"font-family=\"monospace\" font-size=\"12\">\n"
		"<defs><pattern id=\"hole\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\">"
		"<rect width=\"8\" height=\"8\" fill=\"#fff\"/><path d=\"M0 8L8 0\" stroke=\"#bbb\"/>"
		"</pattern></defs>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		height + 44 * (pn > 0) + 10);
	height = svg_strip(f, "guest-physical (band height: log2 of the size)", seg, n, 10);
	if (pn)
		svg_strip(f, "port I/O", pseg, pn, height);
	fprintf(f, "</svg>\n");
	free(seg);
	free(pseg);
	if (fclose(f)) {
		free(text);
		return cli_error(ctx, "nomem", "out of memory");
	}
	rc = cli_write_atomic(ctx, path, text, false);
	free(text);
	return rc;
}
