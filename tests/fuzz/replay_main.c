/*
 * A main() for the fuzz targets in builds without libFuzzer (gcc, the
 * sanitizer build): runs LLVMFuzzerTestOneInput once on each file named,
 * or on each file in each directory named.  ctest runs every target over
 * its seed corpus and the crash regressions this way, so a fixed crash
 * stays fixed in every build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, n;

	if (!f) {
		perror(path);
		return 1;
	}
	do {
		uint8_t *nb = realloc(buf, len + 65536);

		if (!nb)
			abort();
		buf = nb;
		n = fread(buf + len, 1, 65536, f);
		len += n;
	} while (n == 65536);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	size_t files = 0;
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **ents;
		int n;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]);
			files++;
			continue;
		}
		if ((n = scandir(argv[i], &ents, NULL, alphasort)) < 0) {
			perror(argv[i]);
			return 2;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
			if (!stat(path, &st) && S_ISREG(st.st_mode)) {
				bad |= run_file(path);
				files++;
			}
			free(ents[k]);
		}
		free(ents);
	}
	fprintf(stderr, "%s: %zu inputs, no crash\n", argv[0], files);
	return bad ? 2 : files ? 0 : 2;
}
