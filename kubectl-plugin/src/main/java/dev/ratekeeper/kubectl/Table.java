package dev.ratekeeper.kubectl;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** Columns aligned the way kubectl prints them: upper-case headers, two spaces between columns. */
final class Table {
  private final List<String[]> rows = new ArrayList<>();

  Table(String... headers) {
    rows.add(headers);
  }

  Table row(Object... cells) {
    String[] texts = new String[cells.length];
    for (int i = 0; i < cells.length; i++) {
      texts[i] = cells[i] == null ? "-" : String.valueOf(cells[i]);
    }
    rows.add(texts);
    return this;
  }

  void print(PrintStream out) {
    int columns = rows.get(0).length;
    int[] widths = new int[columns];
    for (String[] row : rows) {
      for (int i = 0; i < columns; i++) {
        widths[i] = Math.max(widths[i], row[i].length());
      }
    }
    for (String[] row : rows) {
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < columns; i++) {
        line.append(row[i]);
        if (i < columns - 1) {
          line.append(" ".repeat(widths[i] - row[i].length() + 2));
        }
      }
      out.println(line.toString().stripTrailing());
    }
  }

  /** A span of milliseconds as kubectl prints ages: {@code 45s}, {@code 6m30s}, {@code 10h2m}, {@code 27d3h}. */
  static String duration(long ms) {
    if (ms < 0) {
      return "never";
    }
    long s = (ms + 999) / 1000;
    if (s < 60) {
      return s + "s";
    }
    long m = s / 60;
    if (m < 60) {
      return s % 60 == 0 ? m + "m" : m + "m" + (s % 60) + "s";
    }
    long h = m / 60;
    if (h < 24) {
      return m % 60 == 0 ? h + "h" : h + "h" + (m % 60) + "m";
    }
    long d = h / 24;
    return h % 24 == 0 ? d + "d" : d + "d" + (h % 24) + "h";
  }
}
