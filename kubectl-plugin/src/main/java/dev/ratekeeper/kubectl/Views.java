package dev.ratekeeper.kubectl;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;

/** How the query API's answers read in a terminal. */
final class Views {
  private Views() {}

  /** {@code kubectl ratekeeper explain}: one line per limit, blocking ones first named on top. */
  static void explain(JsonNode e, PrintStream out) {
    out.println("Policy " + e.path("namespace").asText() + "/" + e.path("policy").asText() + " (revision "
        + e.path("revision").asText() + (e.path("shadow").asBoolean() ? ", shadow mode: nothing is blocked" : "")
        + "), user " + e.path("user").asText() + ", tier " + e.path("tier").asText() + " (from "
        + e.path("tierSource").asText() + ")");
    if (e.hasNonNull("model")) {
      out.println("Model " + e.path("model").asText()
          + (e.path("modelAllowed").asBoolean(true) ? "" : ": NOT allowed for this tier (requests get 403)"));
    }
    if (e.hasNonNull("run")) {
      out.println("Run " + e.path("run").asText());
    }
    if (e.hasNonNull("note")) {
      out.println(e.path("note").asText());
    }
    JsonNode blocked = e.path("blockedBy");
    if (blocked.isArray() && !blocked.isEmpty()) {
      StringBuilder names = new StringBuilder();
      blocked.forEach(n -> names.append(names.length() == 0 ? "" : ", ").append(n.asText()));
      out.println("Blocked now by: " + names + " (x-ratekeeper-limited-by; see docs/troubleshooting.md)");
    } else {
      out.println("Blocked now by: nothing (a call that fits what remains is admitted)");
    }
    out.println();
    Table table = new Table("DIMENSION", "SCOPE", "LIMIT", "USED", "REMAINING", "REFILL/RESET", "BLOCKING");
    for (JsonNode l : e.path("limits")) {
      boolean usd = "usd".equals(l.path("unit").asText());
      table.row(l.path("dimension").asText(), l.path("scope").asText(), limit(l), amount(l.path("used"), usd),
          amount(l.path("remaining"), usd), reset(l), blocking(l));
    }
    table.print(out);
  }

  private static String limit(JsonNode l) {
    boolean usd = "usd".equals(l.path("unit").asText());
    String amount = amount(l.path("limit"), usd);
    String unit = switch (l.path("unit").asText()) {
      case "requests" -> " req";
      case "tokens" -> " tok";
      case "in flight" -> " in flight";
      default -> "";
    };
    return switch (l.path("counter").asText()) {
      case "rate" -> amount + unit + " burst, " + l.path("perMinute").asText() + "/min";
      case "quota" -> "run".equals(l.path("period").asText()) ? amount + unit + " per run"
          : amount + unit + " per " + l.path("period").asText("period");
      default -> amount + unit;
    };
  }

  private static String amount(JsonNode value, boolean usd) {
    return usd ? "$" + value.asText() : value.asText();
  }

  private static String reset(JsonNode l) {
    long ms = l.path("resetMs").asLong();
    return switch (l.path("counter").asText()) {
      case "rate" -> ms == 0 ? "full" : "full in " + Table.duration(ms);
      case "quota" -> "run".equals(l.path("period").asText())
          ? "forgotten " + Table.duration(ms) + " after the run's last call" : "resets in " + Table.duration(ms);
      default -> ms == 0 ? "none in flight" : "a slot frees within " + Table.duration(ms);
    };
  }

  private static String blocking(JsonNode l) {
    if (!l.path("blocking").asBoolean()) {
      return "no";
    }
    long wait = l.path("waitMs").asLong();
    return wait < 0 ? "YES (never fits)" : "YES (" + Table.duration(wait) + ")";
  }

  /** {@code kubectl ratekeeper top}. */
  static void top(JsonNode t, PrintStream out) {
    out.println("Policy " + t.path("namespace").asText() + "/" + t.path("policy").asText() + ", period "
        + t.path("period").asText() + ": spend $" + t.path("spendUsd").asText() + ", " + t.path("requests").asLong()
        + " requests admitted, " + t.path("throttled").asLong() + " throttled");
    out.println();
    if (t.path("users").isEmpty()) {
      out.println("No spend recorded this period.");
      return;
    }
    Table table = new Table("USER", "TIER", "SPEND", "TOKENS");
    for (JsonNode u : t.path("users")) {
      table.row(u.path("user").asText(), u.hasNonNull("tier") ? u.path("tier").asText() : null,
          "$" + u.path("spendUsd").asText(), u.hasNonNull("tokens") ? u.path("tokens").asLong() : null);
    }
    table.print(out);
  }
}
