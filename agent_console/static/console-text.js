// The agent workspace's own wording in Chinese and English (pure UI text). Words of the
// vocabulary (evidence kinds, presence states, fields) come with their labels from the
// server (vocabulary.js); the customer-facing texts come in the customer's language.

import { Language } from "/static/shared/vocabulary.js";

export const TEXT = {
  [Language.EN]: {
    presence: "Status", connecting: "Connecting…", connected: "Connected as {name}",
    disconnected: "Disconnected — reconnecting…", wrap_up_note:
      "The call has ended. Finish your notes, then take the next customer.",
    become_available: "I am available", queue: "Waiting customers", service: "Service",
    branch: "Branch", kiosk: "Kiosk", waiting: "Waiting", queue_empty: "Nobody is waiting.",
    queue_away: "You are not available: the queue is shown to available agents only.",
    accept: "Accept", session: "Session", end_call: "End call", finish_call: "Finish and end the call",
    script: "Script to read", announcement: "Announcement (played into the call)",
    phrase: "The customer must say", documents: "Documents", abort: "Abort…",
    abort_reason: "Why is the session aborted? (required)", abort_confirm: "Abort the session",
    cancel: "Cancel", missing: "Still needed", received: "The customer's evidence",
    nothing_yet: "Nothing yet.", facts: "Facts so far", push: "Push to kiosk",
    pushed: "shown on the kiosk", acknowledged: "acknowledged", reconnecting:
      "The customer is reconnecting… You can wait, or end the call.",
    time_left: "time left {t}", ended: "The call has ended ({reason}).",
    net_unknown: "Network: …", net_good: "Network: good", net_fair: "Network: fair",
    net_poor: "Network: poor", take_photo: "Take the ID photo from the customer's video now",
    heard: "What the customer said", use_phrase: "Heard the phrase", heard_default: "Confirmed aloud",
    refused: "Refused", done: "The step is complete: end the call.", played: "played to the end",
    optional: "optional", media_failed: "Camera or microphone unavailable: {error}",
    recording_failed:
      "The call could not be recorded (the server's disk is full): it has ended as failed " +
      "and does not count. Tell the customer to try again later, and tell IT.",
  },
  [Language.ZH_CN]: {
    presence: "状态", connecting: "正在连接…", connected: "已连接：{name}",
    disconnected: "连接断开，正在重连…", wrap_up_note: "通话已结束。请完成记录后接听下一位客户。",
    become_available: "我已空闲", queue: "排队客户", service: "业务", branch: "网点",
    kiosk: "终端", waiting: "等待时长", queue_empty: "当前无人排队。",
    queue_away: "您当前不是空闲状态：只有空闲坐席才能看到排队。", accept: "接听",
    session: "会话", end_call: "结束通话", finish_call: "完成并结束通话", script: "话术",
    announcement: "播报内容（已播放到通话中）", phrase: "客户需说出", documents: "文件",
    abort: "终止…", abort_reason: "终止原因（必填）", abort_confirm: "终止本次业务",
    cancel: "取消", missing: "尚缺", received: "客户提交的证据", nothing_yet: "暂无。",
    facts: "已采集信息", push: "推送到终端", pushed: "已在终端展示", acknowledged: "已确认阅读",
    reconnecting: "客户正在重新连接…您可以等待，或结束通话。", time_left: "剩余 {t}",
    ended: "通话已结束（{reason}）。", net_unknown: "网络：…", net_good: "网络：良好",
    net_fair: "网络：一般", net_poor: "网络：较差", take_photo: "现在从客户视频中截取身份证照片",
    heard: "客户的原话", use_phrase: "客户已说出该句", heard_default: "已口头确认",
    refused: "被拒绝", done: "流程已完成：请结束通话。", played: "已完整播放", optional: "选填",
    media_failed: "无法使用摄像头或麦克风：{error}",
    recording_failed: "本次通话无法录音录像（服务器磁盘已满），已作为失败结束且不生效。请告知客户稍后重新办理，并通知技术人员。",
  },
};
