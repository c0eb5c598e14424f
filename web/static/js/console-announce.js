// The console's announcements (announce.js): new questions and the question on screen.
import { announceModeration } from "./announce.js";

announceModeration();
