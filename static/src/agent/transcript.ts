// A conversation as the agent follows it: the transcript (with the bot's citations and the
// visitor's ratings) loaded once, then the session's event feed from its start, so new
// visitor messages and ratings appear live and nothing is shown twice. Status events are
// passed on (the ticket changed).
import { isAbort, isSessionGone } from "../lib/api";
import { EventFeed, type FeedState } from "../lib/event-feed";
import { feedbackFromEventData, mergeRatings, type Ratings } from "../lib/feedback";
import { mergeMessages, messageFromEventData } from "../lib/messages";
import type { Feedback, FeedBatch, Message, MessagePage } from "../lib/types";

export interface TranscriptSource {
  transcript(): Promise<MessagePage>;
  poll(after: number, signal: AbortSignal): Promise<FeedBatch>;
}

export interface TranscriptListener {
  onMessages(messages: Message[]): void;
  /** The visitor's ratings, by target (a bot reply's id, or the conversation). */
  onRatings(ratings: Ratings): void;
  onStatus(data: Record<string, unknown>): void;
  onState(state: FeedState): void;
  onError(error: unknown): void;
}

export class TranscriptFollower {
  private messages: Message[] = [];
  private ratings: Ratings = {};
  private feed: EventFeed | null = null;
  private stopped = false;

  constructor(
    private readonly source: TranscriptSource,
    private readonly listener: TranscriptListener,
    private readonly feedOptions: { sleep?(ms: number, signal: AbortSignal): Promise<void>; isOnline?(): boolean } = {},
  ) {}

  async start(): Promise<void> {
    try {
      const page = await this.source.transcript();
      if (this.stopped) return;
      this.add(page.messages);
      this.rate(page.feedback);
    } catch (error) {
      if (!this.stopped && !isAbort(error)) this.listener.onError(error);
      return;
    }
    // From the start: the transcript page has no cursor; ids dedupe what it already showed.
    this.feed = new EventFeed({
      after: 0,
      poll: (after, signal) => this.source.poll(after, signal),
      onBatch: (batch) => this.apply(batch),
      onState: (state) => this.listener.onState(state),
      isFatal: isSessionGone,
      onFatal: (error) => this.listener.onError(error),
      ...this.feedOptions,
    });
    void this.feed.start();
  }

  /** Adds messages (the transcript, the feed, or the agent's own reply). */
  add(messages: readonly Message[]): void {
    if (this.stopped) return;
    this.messages = mergeMessages(this.messages, messages);
    this.listener.onMessages(this.messages);
  }

  private rate(feedback: readonly Feedback[] | undefined): void {
    if (this.stopped) return;
    const ratings = mergeRatings(this.ratings, feedback);
    if (ratings === this.ratings) return;
    this.ratings = ratings;
    this.listener.onRatings(ratings);
  }

  private apply(batch: FeedBatch): void {
    const incoming: Message[] = [];
    const feedback: Feedback[] = [];
    let status: Record<string, unknown> | null = null;
    for (const event of batch.events) {
      if (event.type === "message") {
        const message = messageFromEventData(event.data);
        if (message) incoming.push(message);
      } else if (event.type === "feedback") {
        const rating = feedbackFromEventData(event.data);
        if (rating) feedback.push(rating);
      } else if (event.type === "status") {
        status = event.data;
      }
    }
    if (incoming.length > 0) this.add(incoming);
    this.rate(feedback);
    if (status && !this.stopped) this.listener.onStatus(status);
  }

  stop(): void {
    this.stopped = true;
    this.feed?.stop();
  }
}
