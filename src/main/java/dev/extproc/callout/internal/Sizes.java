package dev.extproc.callout.internal;

/** Parses the byte sizes of flags and environment variables: {@code 65536}, {@code 64KiB}. */
public final class Sizes {

  private Sizes() {}

  /**
   * Parses a number of bytes, optionally followed by {@code KiB} or {@code MiB}.
   *
   * @throws IllegalArgumentException for anything else, or 2 GiB and more
   */
  public static int parse(String value) {
    String v = value.trim();
    long unit = 1;
    if (v.endsWith("MiB")) {
      unit = 1024 * 1024;
      v = v.substring(0, v.length() - 3);
    } else if (v.endsWith("KiB")) {
      unit = 1024;
      v = v.substring(0, v.length() - 3);
    }
    try {
      long bytes = Long.parseLong(v.trim()) * unit;
      if (bytes > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("too large (expected: < 2GiB)");
      }
      return (int) bytes;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a size (expected: BYTES, NKiB or NMiB)", e);
    }
  }
}
