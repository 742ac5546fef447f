package dev.ratekeeper.policy.compile;

/**
 * Dated model aliases. Providers publish snapshots under the model's name plus a date:
 * Anthropic {@code claude-haiku-4-5-20251001} ({@code -YYYYMMDD}), OpenAI
 * {@code gpt-4o-2024-08-06} ({@code -YYYY-MM-DD}). A name with such a suffix is governed by the
 * entries for its own name first, then by those for the name without the date; so a quota, price or
 * tier allow-list written for {@code claude-haiku-4-5} also covers {@code claude-haiku-4-5-20251001}.
 */
public final class ModelNames {
  private ModelNames() {}

  /** {@code model} without a trailing date, or null when it names no date. Constant work per call. */
  public static String undated(String model) {
    if (model == null) {
      return null;
    }
    int n = model.length();
    if (n > 9 && model.charAt(n - 9) == '-' && digits(model, n - 8, n)) {
      return model.substring(0, n - 9);
    }
    if (n > 11 && model.charAt(n - 11) == '-' && digits(model, n - 10, n - 6) && model.charAt(n - 6) == '-'
        && digits(model, n - 5, n - 3) && model.charAt(n - 3) == '-' && digits(model, n - 2, n)) {
      return model.substring(0, n - 11);
    }
    return null;
  }

  private static boolean digits(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }
}
