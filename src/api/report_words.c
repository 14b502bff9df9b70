/* The HTML report's words per language (report_words.h). */
#include "livetally/api/report_words.h"

#include "livetally/base/strbuf.h"

#include <string.h>

/* English: the words the report has always had (the en report's bytes do
 * not change with this table). */
static const char *const words_en[LT_RW_COUNT] = {
    [LT_RW_LANG] = "en",
    [LT_RW_TITLE_PREFIX] = "Report: ",
    [LT_RW_INTRO_STREAM] = "Stream ",
    [LT_RW_INTRO_SERIES] = ", series ",
    [LT_RW_INTRO_STATUS] = ", status ",
    [LT_RW_INTRO_GENERATED] = ". Generated at ",
    [LT_RW_INTRO_TZ] = "; times in ",
    [LT_RW_INTRO_END] = ".",
    [LT_RW_STATUS_SCHEDULED] = "scheduled",
    [LT_RW_STATUS_LIVE] = "live",
    [LT_RW_STATUS_ENDED] = "ended",
    [LT_RW_H_TOTALS] = "Totals",
    [LT_RW_VIEWS] = "Views",
    [LT_RW_LIKES] = "Likes",
    [LT_RW_UNIQUES_ESTIMATE] = "Unique viewers (estimate)",
    [LT_RW_PEAK_ONLINE] = "Peak online",
    [LT_RW_PEAK_AT] = " at ",
    [LT_RW_H_PER_MINUTE] = "Per minute",
    [LT_RW_NO_MINUTES] = "No per-minute figures retained.",
    [LT_RW_CHART_VIEWS] = "views per minute",
    [LT_RW_CHART_LIKES] = "likes per minute",
    [LT_RW_CHART_HIGHEST] = " (highest: {1})",
    [LT_RW_H_SEGMENTS] = "Segments",
    [LT_RW_NONE_SENTENCE] = "None.",
    [LT_RW_COL_NUMBER] = "#",
    [LT_RW_COL_SEGMENT] = "segment",
    [LT_RW_COL_STARTED] = "started",
    [LT_RW_COL_ENDED] = "ended",
    [LT_RW_COL_VIEWS] = "views",
    [LT_RW_COL_LIKES] = "likes",
    [LT_RW_COL_UNIQUES_ESTIMATE] = "unique viewers (estimate)",
    [LT_RW_SEGMENT_RUNNING] = "running",
    [LT_RW_SEGMENT_TO_END] = "the stream's end",
    [LT_RW_H_SOURCES] = "Sources",
    [LT_RW_COL_SOURCE] = "source",
    [LT_RW_COL_VIEWS_HERE] = "views counted here",
    [LT_RW_COL_LIKES_HERE] = "likes counted here",
    [LT_RW_COL_PARTNER_REPORTED] = "partner-reported",
    [LT_RW_REPORTED_FIGURES] = "views {1}, likes {2}",
    [LT_RW_LOWER_NOTE] = " (lower than the report before)",
    [LT_RW_NONE] = "none",
    [LT_RW_H_PARTNER_REPORTS] = "Partner reports",
    [LT_RW_COL_TIME] = "time",
    [LT_RW_COL_VIEWS_REPORTED] = "views reported",
    [LT_RW_COL_LIKES_REPORTED] = "likes reported",
    [LT_RW_LOWER_THAN_BEFORE] = "lower than the report before",
    [LT_RW_H_METHOD] = "Counting method",
    [LT_RW_A_VIEW] = "A view",
    [LT_RW_VIEW_RULE] = ("one view per viewer per dedup window: a viewer seen again within "
                         "dedup_seconds of its last counted view is not counted again"),
    [LT_RW_DEDUP_WINDOW] = "Dedup window (seconds)",
    [LT_RW_BUDGET_VIEWER] = "Like budget per viewer",
    [LT_RW_BUDGET_CLIENT] = "Like budget per client address",
    [LT_RW_BUDGET_FIGURES] = "{1} taps/s, burst {2}",
    [LT_RW_TAPS_DROPPED] = "Taps dropped by the budgets",
    [LT_RW_EVENTS_REJECTED] = "Events rejected",
    [LT_RW_H_MINUTE_TABLE] = "Per-minute figures",
    [LT_RW_COL_UNIQUES] = "uniques",
    [LT_RW_COL_ONLINE] = "online",
};

/* Simplified Chinese, as an event operator in China reads a report: the
 * words of the dashboard (观看次数, 点赞, 在线人数), full-width punctuation
 * around Chinese text. zh-CN-W shares it: the W is a way of showing
 * figures, not another language. */
static const char *const words_zh[LT_RW_COUNT] = {
    [LT_RW_LANG] = "zh-CN", /* zh-CN-W is our display variant, not a language tag */
    [LT_RW_TITLE_PREFIX] = "直播数据报告：",
    [LT_RW_INTRO_STREAM] = "直播 ",
    [LT_RW_INTRO_SERIES] = "，系列 ",
    [LT_RW_INTRO_STATUS] = "，状态：",
    [LT_RW_INTRO_GENERATED] = "。生成于 ",
    [LT_RW_INTRO_TZ] = "；时区：",
    [LT_RW_INTRO_END] = "。",
    [LT_RW_STATUS_SCHEDULED] = "未开始",
    [LT_RW_STATUS_LIVE] = "直播中",
    [LT_RW_STATUS_ENDED] = "已结束",
    [LT_RW_H_TOTALS] = "总计",
    [LT_RW_VIEWS] = "观看次数",
    [LT_RW_LIKES] = "点赞",
    [LT_RW_UNIQUES_ESTIMATE] = "独立观众（估算）",
    [LT_RW_PEAK_ONLINE] = "峰值在线",
    [LT_RW_PEAK_AT] = "，出现于 ",
    [LT_RW_H_PER_MINUTE] = "每分钟走势",
    [LT_RW_NO_MINUTES] = "未保留每分钟数据。",
    [LT_RW_CHART_VIEWS] = "每分钟观看次数",
    [LT_RW_CHART_LIKES] = "每分钟点赞",
    [LT_RW_CHART_HIGHEST] = "（最高：{1}）",
    [LT_RW_H_SEGMENTS] = "分段",
    [LT_RW_NONE_SENTENCE] = "无。",
    [LT_RW_COL_NUMBER] = "序号",
    [LT_RW_COL_SEGMENT] = "分段",
    [LT_RW_COL_STARTED] = "开始时间",
    [LT_RW_COL_ENDED] = "结束时间",
    [LT_RW_COL_VIEWS] = "观看次数",
    [LT_RW_COL_LIKES] = "点赞",
    [LT_RW_COL_UNIQUES_ESTIMATE] = "独立观众（估算）",
    [LT_RW_SEGMENT_RUNNING] = "进行中",
    [LT_RW_SEGMENT_TO_END] = "随直播结束",
    [LT_RW_H_SOURCES] = "来源",
    [LT_RW_COL_SOURCE] = "来源",
    [LT_RW_COL_VIEWS_HERE] = "本站统计观看次数",
    [LT_RW_COL_LIKES_HERE] = "本站统计点赞",
    [LT_RW_COL_PARTNER_REPORTED] = "合作平台上报",
    [LT_RW_REPORTED_FIGURES] = "观看次数 {1}，点赞 {2}",
    [LT_RW_LOWER_NOTE] = "（低于上一次上报）",
    [LT_RW_NONE] = "无",
    [LT_RW_H_PARTNER_REPORTS] = "合作平台上报记录",
    [LT_RW_COL_TIME] = "时间",
    [LT_RW_COL_VIEWS_REPORTED] = "上报观看次数",
    [LT_RW_COL_LIKES_REPORTED] = "上报点赞",
    [LT_RW_LOWER_THAN_BEFORE] = "低于上一次上报",
    [LT_RW_H_METHOD] = "统计方法",
    [LT_RW_A_VIEW] = "观看计数规则",
    [LT_RW_VIEW_RULE] = ("每位观众在每个去重窗口内只计一次观看：距其上次被计入的观看不足 "
                         "dedup_seconds 秒时再次观看，不重复计数"),
    [LT_RW_DEDUP_WINDOW] = "去重窗口（秒）",
    [LT_RW_BUDGET_VIEWER] = "每位观众的点赞限额",
    [LT_RW_BUDGET_CLIENT] = "每个客户端地址的点赞限额",
    [LT_RW_BUDGET_FIGURES] = "每秒 {1} 次，突发上限 {2} 次",
    [LT_RW_TAPS_DROPPED] = "因超出限额而丢弃的点赞",
    [LT_RW_EVENTS_REJECTED] = "被拒绝的事件",
    [LT_RW_H_MINUTE_TABLE] = "每分钟数据",
    [LT_RW_COL_UNIQUES] = "独立观众",
    [LT_RW_COL_ONLINE] = "在线人数",
};

const char *lt_report_word(enum lt_display_locale locale, enum lt_report_word id)
{
    if ((unsigned)id >= LT_RW_COUNT)
        return "";
    const char *w = locale == LT_LOCALE_EN ? words_en[id] : words_zh[id];
    return w ? w : "";
}

const char *lt_report_status_word(enum lt_display_locale locale, enum lt_stream_status status)
{
    switch (status) {
    case LT_STATUS_SCHEDULED:
        return lt_report_word(locale, LT_RW_STATUS_SCHEDULED);
    case LT_STATUS_LIVE:
        return lt_report_word(locale, LT_RW_STATUS_LIVE);
    case LT_STATUS_ENDED:
        return lt_report_word(locale, LT_RW_STATUS_ENDED);
    case LT_STATUS_NONE:
        break;
    }
    return "";
}

void lt_report_words_add(struct lt_strbuf *sb, enum lt_display_locale locale,
                         enum lt_report_word id, const char *a1, const char *a2)
{
    const char *s = lt_report_word(locale, id);
    for (;;) {
        const char *at = strchr(s, '{');
        if (!at) {
            lt_strbuf_add_str(sb, s);
            return;
        }
        lt_strbuf_add(sb, s, (size_t)(at - s));
        if ((at[1] == '1' || at[1] == '2') && at[2] == '}') {
            const char *a = at[1] == '1' ? a1 : a2;
            lt_strbuf_add_str(sb, a ? a : "");
            s = at + 3;
        } else {
            lt_strbuf_add_char(sb, '{');
            s = at + 1;
        }
    }
}
