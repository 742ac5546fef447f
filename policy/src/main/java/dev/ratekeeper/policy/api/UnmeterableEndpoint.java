package dev.ratekeeper.policy.api;

/**
 * Groups of billed provider endpoints whose cost Ratekeeper cannot know from the request, so it
 * cannot meter them. They are refused unless {@code spec.allowUnmeterable} lists their group; a
 * listed group counts request rates only (like {@link UnmeteredPaths#RequestsOnly}). The full
 * endpoint table is in docs/endpoints.md.
 */
public enum UnmeterableEndpoint {
  /** File uploads: Anthropic and OpenAI {@code POST /v1/files}, OpenAI {@code /v1/uploads}. */
  Files,
  /** OpenAI {@code POST /v1/batches} (its requests live in an uploaded file). Anthropic message batches are metered. */
  Batches,
  /** OpenAI {@code /v1/images/generations}, {@code /edits}, {@code /variations}. */
  Images,
  /** OpenAI {@code /v1/audio/speech}, {@code /transcriptions}, {@code /translations}. */
  Audio,
  /** OpenAI {@code /v1/realtime} sessions. */
  Realtime,
  /** OpenAI {@code POST /v1/fine_tuning/jobs}. */
  FineTuning,
  /**
   * Azure OpenAI "On Your Data": a chat call whose body carries {@code data_sources} (Azure AI Search
   * queries and embeddings billed apart from the call); the call's own tokens are still metered.
   */
  OnYourData
}
