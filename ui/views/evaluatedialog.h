// EvaluateDialog: picks the dataset (the built-in Fashion-MNIST splits, recently used files and folders,
// "Image Folder…" for a folder of images, or "Browse…" for a .npy / .npz / .h5 / IDX .gz file), how its rows
// become the model's input (normalisation, layout, and for image folders the crop and resize), and a sample
// limit for Model → Evaluate…. The dataset and its preprocessing serve every job of the window.
#pragma once

#include <QDialog>
#include <QStringList>

#include "core/io/dataset.h"

class QComboBox;
class QSettings;
class QSpinBox;

namespace cw::ui {

// The preprocessing a user picks, as `cwb --normalize --layout --image-size --resize` gives it.
struct PreprocessChoice {
    cw::Normalization normalization = cw::Normalization::Unit;
    cw::Preprocess::Layout layout = cw::Preprocess::Layout::Auto;
    int cropHeight = 0, cropWidth = 0; // image folders: the centre crop (0: the model input's size)
    int resizeShorter = 0;             // image folders: the shorter side before the crop (0: crop * 256 / 224)

    cw::Preprocess preprocess() const;
    // "evaluate/…" keys; absent or invalid entries keep the defaults.
    static PreprocessChoice load(const QSettings &settings);
    void save(QSettings &settings) const;
    bool operator==(const PreprocessChoice &) const = default;
};

class EvaluateDialog : public QDialog {
    Q_OBJECT
public:
    EvaluateDialog(const QString &datasetSpec, qint64 limit, const PreprocessChoice &preprocess,
                   const QStringList &recentDatasets, const QString &browseDir, QWidget *parent = nullptr);

    QString datasetSpec() const;
    qint64 limit() const;
    PreprocessChoice preprocess() const;
    QString browseDir() const { return m_browseDir; }
    // Accepted by "Run on Cluster…" rather than Evaluate.
    bool clusterRequested() const { return m_clusterRequested; }

    // "Fashion-MNIST test set" for "fashion-mnist", the file name for a path.
    static QString displayName(const QString &datasetSpec);
    static QString fileFilter();

private:
    void onDatasetActivated(int index);
    int addDataset(const QString &spec);

    QComboBox *m_dataset = nullptr;
    QSpinBox *m_limit = nullptr;
    QComboBox *m_normalize = nullptr, *m_layout = nullptr;
    QSpinBox *m_cropHeight = nullptr, *m_cropWidth = nullptr, *m_resize = nullptr;
    QString m_browseDir;
    int m_previousIndex = 0;
    bool m_clusterRequested = false;
};

} // namespace cw::ui
